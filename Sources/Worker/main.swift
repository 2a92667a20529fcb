import FanbenchCLI

await WorkerCommand.runMain()
