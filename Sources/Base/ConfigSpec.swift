/// One configuration of a run: memory size × strategy (× the run's op).
package struct ConfigSpec: Sendable, Equatable, Hashable {
    package var index: Int
    package var size: LambdaSize
    package var strategy: Strategy

    package init(index: Int, size: LambdaSize, strategy: Strategy) {
        self.index = index
        self.size = size
        self.strategy = strategy
    }
}
