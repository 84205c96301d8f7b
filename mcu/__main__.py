from mcu.cli import main

main()
