import sys

from tailor.serve.run import main
from waveform.bffs.web.app import PROFILE

sys.exit(main("waveform.bffs.web.app:create", PROFILE))
