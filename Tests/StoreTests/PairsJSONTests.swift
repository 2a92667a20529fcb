import FanbenchBase
import FanbenchProtocol
@testable import FanbenchStore
import Foundation
import Testing

/// The store's fast path for histograms and spans writes what JSONEncoder writes, reads it
/// back exactly, and leaves anything else to JSONDecoder.
@Suite struct PairsJSONTests {
    @Test func writesWhatTheEncoderWritesAndReadsItBack() throws {
        let h = HistogramSnapshot(counts: [[1, 2], [16_000, 90], [UInt64.max, 1]])
        let fast = try #require(PairsJSON.histogram(h))
        #expect(fast == String(decoding: try JSONCoding.encoder().encode(h), as: UTF8.self))
        #expect(PairsJSON.parseHistogram(fast) == h)
        let spans: [[UInt32]] = [[0, 16_000], [5, UInt32.max]]
        #expect(PairsJSON.pairs(spans) == String(decoding: try JSONCoding.encoder().encode(spans), as: UTF8.self))
        #expect(PairsJSON.parsePairs(PairsJSON.pairs(spans)) == spans.map { $0.map(UInt64.init) })
        #expect(PairsJSON.parsePairs("[]") == [] && PairsJSON.parsePairs("[[]]") == [[]])
        #expect(PairsJSON.histogram(HistogramSnapshot(unit: "µs", counts: [])) == nil, "not plain letters: the encoder's")
    }

    @Test func anythingElseIsLeftToTheDecoder() throws {
        for text in ["[[1, 2]]", "[[1,2],]", "[[01,2]]", "[[1.5,2]]", "[[1e3,2]]", "[[-1,2]]", "[[18446744073709551616,1]]", "[[1,2]", "[[1,2]]x", ""] {
            #expect(PairsJSON.parsePairs(text) == nil, "\(text)")
        }
        let spaced = #"{ "counts": [[1, 2]], "significant_digits": 3, "unit": "us" }"#
        #expect(PairsJSON.parseHistogram(spaced) == nil)
        #expect(try RunStore.histogram(spaced) == HistogramSnapshot(counts: [[1, 2]]), "the decoder reads what the fast path does not")
        #expect(try RunStore.spans("[[1, 2]]") == [[1, 2]])
        #expect(throws: (any Error).self) { try RunStore.spans("[[4294967296,1]]") }
    }

    @Test func theHistogramDecoderReadsWhatItsEncoderWrote() throws {
        let h = HistogramSnapshot(counts: [[15_000, 9], [40_000, 1], [7]])
        let back = try JSONCoding.decoder().decode(HistogramSnapshot.self, from: try JSONCoding.encoder().encode(h))
        #expect(back == h)
        #expect(throws: (any Error).self) {
            try JSONCoding.decoder().decode(HistogramSnapshot.self, from: Data(#"{"unit":"us","significant_digits":3,"counts":[[1,"x"]]}"#.utf8))
        }
    }
}
