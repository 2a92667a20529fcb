import FanbenchCLI

await FanbenchCommand.runMain()
