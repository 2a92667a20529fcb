import FanbenchLambda
import FanbenchS3
import Foundation
import Testing

@Suite struct CredentialChainTests {
    private func files(_ credentials: String, _ config: String) throws -> [String: String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fanbench-creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try credentials.write(toFile: dir + "/credentials", atomically: true, encoding: .utf8)
        try config.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
        return ["AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials", "AWS_CONFIG_FILE": dir + "/config"]
    }

    @Test func environmentWinsOverProfiles() throws {
        var env = try files("[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n", "")
        env["AWS_ACCESS_KEY_ID"] = "ENVKEY"
        env["AWS_SECRET_ACCESS_KEY"] = "envsecret"
        env["AWS_SESSION_TOKEN"] = "envtoken"
        let r = try #require(try CredentialChain.resolve(env, home: "/nonexistent"))
        #expect(r.credentials == S3Credentials(accessKeyID: "ENVKEY", secretAccessKey: "envsecret", sessionToken: "envtoken"))
        #expect(r.source == "environment")
    }

    @Test func namedProfileFromBothFilesWithSessionTokenAndRegion() throws {
        var env = try files("""
            [default]
            aws_access_key_id = DEFAULTKEY
            aws_secret_access_key = defaultsecret
            # a comment
            [bench]
            aws_access_key_id = BENCHKEY
            aws_secret_access_key = benchsecret
            aws_session_token = benchtoken
            """, """
            [default]
            region = eu-west-1
            [profile bench]
            region = ap-southeast-2
            s3 =
                addressing_style = path
            """)
        env["AWS_PROFILE"] = "bench"
        let r = try #require(try CredentialChain.resolve(env, home: "/nonexistent"))
        #expect(r.credentials == S3Credentials(accessKeyID: "BENCHKEY", secretAccessKey: "benchsecret", sessionToken: "benchtoken"))
        #expect(r.source.hasPrefix("profile bench"))
        #expect(!r.source.contains("benchsecret"))
        #expect(CredentialChain.region(env, home: "/nonexistent") == "ap-southeast-2")
        env["AWS_REGION"] = "us-west-2"
        #expect(CredentialChain.region(env, home: "/nonexistent") == "us-west-2")
    }

    @Test func keysInTheConfigFileAndTheDefaultProfile() throws {
        let env = try files("", "[default]\naws_access_key_id = CFGKEY\naws_secret_access_key = cfgsecret\nregion = us-east-2\n")
        let r = try #require(try CredentialChain.resolve(env, home: "/nonexistent"))
        #expect(r.credentials.accessKeyID == "CFGKEY")
        #expect(r.credentials.sessionToken == nil)
        #expect(CredentialChain.region(env, home: "/nonexistent") == "us-east-2")
    }

    @Test func missingOrUnsupportedProfilesSayWhatToDo() throws {
        var env = try files("[default]\naws_access_key_id = K\naws_secret_access_key = S\n", "[profile sso]\nsso_session = corp\n[profile role]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = default\n")
        env["AWS_PROFILE"] = "nope"
        #expect(throws: S3ConfigurationError.self) { try CredentialChain.resolve(env, home: "/nonexistent") }
        env["AWS_PROFILE"] = "sso"
        do {
            _ = try CredentialChain.resolve(env, home: "/nonexistent")
            Issue.record("an SSO profile resolved")
        } catch {
            #expect(error.message.contains("uses SSO"))
            #expect(error.message.contains("export-credentials"))
        }
        env["AWS_PROFILE"] = "role"
        do {
            _ = try CredentialChain.resolve(env, home: "/nonexistent")
            Issue.record("a role profile resolved")
        } catch {
            #expect(error.message.contains("assumes a role"))
        }
        // No profile asked for and no files: nothing, not an error.
        #expect(try CredentialChain.resolve([:], home: "/nonexistent") == nil)
    }
}

@Suite struct SigV4VerifierTests {
    let credentials = S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    /// Signs as the Lambda client does: exactly the headers given, the path encoded twice.
    private func signed(body: [UInt8], path: String = "/2015-03-31/functions/fanbench-512/invocations", at seconds: Int,
                        secret: String? = nil) -> [(name: String, value: String)] {
        let creds = S3Credentials(accessKeyID: credentials.accessKeyID, secretAccessKey: secret ?? credentials.secretAccessKey)
        let date = AmzDate(secondsSince1970: seconds)
        let headers: [(name: String, value: String)] = [("host", "127.0.0.1:9001"), ("x-amz-log-type", "Tail"), ("x-amz-date", date.dateTime)]
        let s = SigV4Signer(credentials: creds, region: "us-east-1", service: "lambda")
            .signExactly(method: "POST", canonicalURI: SigV4Verifier.canonicalURI(path), query: [], headers: headers,
                         payloadHash: sha256Hex(body), date: date)
        return s.headers + [("Content-Type", "application/json")]
    }

    @Test func acceptsItsOwnSignatureAndRefusesEveryTamper() {
        let verifier = SigV4Verifier(credentials: credentials, service: "lambda")
        let now = 1_764_662_400
        let body = Array(#"{"schema":"fanbench.event/v1"}"#.utf8)
        let path = "/2015-03-31/functions/fanbench-512/invocations"
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: signed(body: body, at: now), body: body, now: now) == nil)
        // Another body, path, method, secret, key; too old; no signature at all.
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: signed(body: body, at: now), body: body + [0x20], now: now) == .mismatch)
        #expect(verifier.verify(method: "POST", path: path.replacingOccurrences(of: "512", with: "1024"), query: "",
                                headers: signed(body: body, at: now), body: body, now: now) == .mismatch)
        #expect(verifier.verify(method: "PUT", path: path, query: "", headers: signed(body: body, at: now), body: body, now: now) == .mismatch)
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: signed(body: body, at: now, secret: "wrong"), body: body, now: now) == .mismatch)
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: signed(body: body, at: now - 301), body: body, now: now) == .expired)
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: [("host", "x")], body: body, now: now) == .missing)
        var otherKey = signed(body: body, at: now)
        otherKey = otherKey.map { $0.name == "authorization" ? ($0.name, $0.value.replacingOccurrences(of: "AKIDEXAMPLE", with: "AKIDOTHER")) : $0 }
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: otherKey, body: body, now: now) == .unknownKey)
        // A signed header's value changed in transit.
        let changed = signed(body: body, at: now).map { $0.name == "x-amz-log-type" ? ($0.name, "None") : $0 }
        #expect(verifier.verify(method: "POST", path: path, query: "", headers: changed, body: body, now: now) == .mismatch)
        #expect(SigV4Verifier.Failure.mismatch.type == "InvalidSignatureException")
    }

    @Test func amzDateRoundTrips() throws {
        let d = AmzDate(secondsSince1970: 1_764_662_400)
        #expect(d.dateTime == "20251202T080000Z")
        #expect(try #require(AmzDate(parsing: d.dateTime)).secondsSince1970 == 1_764_662_400)
        #expect(AmzDate(parsing: "2025-12-02T08:00:00Z") == nil)
    }
}
