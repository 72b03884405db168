import sys

from tailor.serve.run import main
from waveform.bffs.mobile.app import PROFILE

sys.exit(main("waveform.bffs.mobile.app:create", PROFILE))
