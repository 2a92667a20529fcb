@testable import FanbenchS3
import Foundation
import Testing

@Suite struct S3XMLTests {
    /// Found by scripts/fuzz (FuzzS3XML): a body in an encoding libxml2 cannot convert made it
    /// print "encoding error" lines to stderr (its generic handler ignores the parser options).
    /// Refused, and silent.
    @Test func aBodyInABrokenEncodingIsRefusedWithoutPrinting() throws {
        let body = Array(#"<?xml version="1.0" encoding="EUC-JP"?><Error><Code>\#u{FF}"#.utf8) + [0xFF, 0xFE, 0, 0, 0, 0, 0x81, 0]
            + Array("</Code></Error>".utf8)
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("xml-stderr-\(getpid())").path
        let saved = dup(2)
        let fd = open(capture, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
        dup2(fd, 2)
        let parsed = XMLElement.parse(body)
        let list = try? S3XML.listObjectsV2Page(body)
        fflush(nil)
        dup2(saved, 2)
        close(fd)
        close(saved)
        defer { unlink(capture) }
        #expect(parsed == nil && list == nil)
        // Tests run in parallel and fd 2 is the process's: their progress lines can land here
        // too, so only libxml2's own ("encoding error : …", "Entity: line 1: parser error : …") count.
        let printed = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
        let libxml = printed.split(separator: "\n").filter { $0.contains(" error : ") || $0.hasPrefix("Entity: line") || $0.contains("parser error") }
        #expect(libxml.isEmpty, "libxml2 printed: \(libxml.prefix(3))")
    }

    @Test func listPageDecodesURLEncodedKeys() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
            <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
            <NextContinuationToken>tok/en==</NextContinuationToken>
            <Contents><Key>a+b%2Bc</Key><Size>11</Size><ETag>&quot;abc&quot;</ETag><LastModified>2026-11-29T00:00:00.000Z</LastModified></Contents>
            <Contents><Key>%E6%97%A5/x%26y</Key><Size>0</Size></Contents>
            <CommonPrefixes><Prefix>dir%20one/</Prefix></CommonPrefixes>
            </ListBucketResult>
            """
        let page = try S3XML.listObjectsV2Page(Array(xml.utf8))
        #expect(page.objects.map(\.key) == ["a b+c", "日/x&y"])
        #expect(page.objects[0].size == 11)
        #expect(page.objects[0].eTag == "\"abc\"")
        #expect(page.commonPrefixes == ["dir one/"])
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "tok/en==")
        #expect(page.keyCount == 2)
    }

    @Test func listPageWithoutEncodingKeepsKeys() throws {
        let xml = "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b</Key><Size>1</Size></Contents></ListBucketResult>"
        let page = try S3XML.listObjectsV2Page(Array(xml.utf8))
        #expect(page.objects.map(\.key) == ["a+b"])
        #expect(!page.isTruncated)
        #expect(page.nextContinuationToken == nil)
    }

    @Test func accessControlPolicy() throws {
        let xml = """
            <AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>owner-id</ID><DisplayName>me</DisplayName></Owner>
            <AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
            <ID>owner-id</ID><DisplayName>me</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>
            <Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>
            <Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>
            """
        let acl = try S3XML.accessControlPolicy(Array(xml.utf8))
        #expect(acl.ownerID == "owner-id")
        #expect(acl.ownerDisplayName == "me")
        #expect(acl.grants.count == 2)
        #expect(acl.grants[0].grantee.type == "CanonicalUser")
        #expect(acl.grants[0].permission == "FULL_CONTROL")
        #expect(acl.grants[1].grantee.type == "Group")
        #expect(acl.grants[1].grantee.uri == "http://acs.amazonaws.com/groups/global/AllUsers")
    }

    @Test func serviceErrorFromXML() {
        let xml = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><RequestId>RID1</RequestId></Error>"
        let e = S3XML.serviceError(HTTPResponse(status: 403, headers: [], body: Array(xml.utf8)))
        #expect(e.kind == .service)
        #expect(e.code == "SignatureDoesNotMatch")
        #expect(e.httpStatus == 403)
        #expect(e.requestID == "RID1")
        #expect(!e.isRetryable)
        #expect(e.userMessage.contains("AWS_SECRET_ACCESS_KEY"))
    }

    @Test func serviceErrorWithoutBody() {
        let e = S3XML.serviceError(HTTPResponse(status: 404, headers: [("x-amz-request-id", "R2")], body: []))
        #expect(e.code == "NotFound")
        #expect(e.requestID == "R2")
        let slow = S3XML.serviceError(HTTPResponse(status: 503, headers: [], body: Array("<Error><Code>SlowDown</Code></Error>".utf8)))
        #expect(slow.code == "SlowDown")
        #expect(slow.isRetryable)
    }

    @Test func garbageIsAnInvalidResponse() {
        #expect(throws: S3Error.self) { try S3XML.listObjectsV2Page(Array("<html>nope".utf8)) }
        do {
            _ = try S3XML.accessControlPolicy(Array("{}".utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .invalidResponse)
        }
    }
}
