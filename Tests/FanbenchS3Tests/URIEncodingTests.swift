@testable import FanbenchS3
import Testing

@Suite struct URIEncodingTests {
    @Test func encodesEverythingButUnreserved() {
        #expect(URIEncoding.encode("AZaz09-_.~") == "AZaz09-_.~")
        #expect(URIEncoding.encode("a b+c=d&e%f!'()*,;") == "a%20b%2Bc%3Dd%26e%25f%21%27%28%29%2A%2C%3B")
        #expect(URIEncoding.encode("ü/日") == "%C3%BC%2F%E6%97%A5")
    }

    @Test func keepsSlashesOfKeysExactly() {
        // Leading, trailing and repeated slashes are part of the key and stay on the wire.
        #expect(URIEncoding.encode("/a//b/", keepSlash: true) == "/a//b/")
        #expect(URIEncoding.encode("x y/z", keepSlash: true) == "x%20y/z")
    }

    @Test func decodesListingKeys() {
        #expect(URIEncoding.decode("a+b%2Bc%2F%E6%97%A5", plusAsSpace: true) == "a b+c/日")
        #expect(URIEncoding.decode("a+b", plusAsSpace: false) == "a+b")
        #expect(URIEncoding.decode("bad%2", plusAsSpace: true) == nil)
        #expect(URIEncoding.decode("bad%zz", plusAsSpace: true) == nil)
        #expect(URIEncoding.decode("%FF", plusAsSpace: true) == nil)
    }

    @Test(arguments: ["plain", "with space", "sp+=&%~!'()*,;", "/leading", "trailing/", "dbl//slash", "ünïcødé/日本", "tab\there"])
    func roundTrips(key: String) {
        #expect(URIEncoding.decode(URIEncoding.encode(key, keepSlash: true), plusAsSpace: false) == key)
        #expect(URIEncoding.decode(URIEncoding.encode(key), plusAsSpace: true) == key)
    }
}
