import sys

from tailor.serve.run import main
from waveform.bffs.tv.app import PROFILE

sys.exit(main("waveform.bffs.tv.app:create", PROFILE))
