import FanbenchLocalTarget
import Testing

@Suite struct SeederTests {
    @Test func keysArePaddedAndSortable() {
        #expect(Seeder.key(42, count: 100, prefix: "p/") == "p/obj-000042")
        #expect(Seeder.key(5, count: 10_000_000, prefix: "") == "obj-0000005")
        let keys = (0..<1500).map { Seeder.key($0, count: 1500, prefix: "") }
        #expect(keys == keys.sorted())
    }
}
