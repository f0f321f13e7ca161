import sys

from bot.faces.cli.main import main

sys.exit(main())
