from upslice.cli import main

main()
