import sys

from tailor.serve.run import main
from waveform.bffs.public.app import PROFILE

sys.exit(main("waveform.bffs.public.app:create", PROFILE))
