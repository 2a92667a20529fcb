import FanbenchCLI

await FanbenchCommand.main()
