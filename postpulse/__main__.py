from postpulse.cli import main

main()
