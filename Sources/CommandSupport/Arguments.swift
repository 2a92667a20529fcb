import ArgumentParser
import FanbenchBase

// The values commands take, parsed once with the message each type's parser gives.

extension HostPort: ExpressibleByArgument {
    package init?(argument: String) { try? self.init(parsing: argument, listening: true) }
}

extension LambdaSize: ExpressibleByArgument {
    package init?(argument: String) {
        guard let mb = Int(argument) else { return nil }
        try? self.init(memoryMB: mb)
    }
}

extension Strategy: ExpressibleByArgument {
    package init?(argument: String) { try? self.init(parsing: argument) }
}

extension ObjectOperation: ExpressibleByArgument {}
