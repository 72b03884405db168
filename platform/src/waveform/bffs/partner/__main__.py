import sys

from tailor.serve.run import main
from waveform.bffs.partner.app import PROFILE

sys.exit(main("waveform.bffs.partner.app:create", PROFILE))
