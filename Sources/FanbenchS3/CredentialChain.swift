import Foundation

/// Where AWS credentials and the region come from, in the SDKs' order: the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then the profile
/// (`AWS_PROFILE`, else `default`) in the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`,
/// else `~/.aws/credentials`) and the shared config file (`AWS_CONFIG_FILE`, else
/// `~/.aws/config`, where profiles are `[profile NAME]`). Profiles that assume a role, use SSO or
/// run a credential process are named as such: fanbench signs with static or session keys only.
public enum CredentialChain {
    public struct Resolved: Sendable, Equatable {
        public var credentials: S3Credentials
        /// `environment` or `profile NAME (FILE)`: for messages, never the keys.
        public var source: String
    }

    /// The credentials, or nil when neither the environment nor a profile has any. Throws when a
    /// profile was asked for and is missing, or is of a kind fanbench cannot sign with.
    public static func resolve(_ env: [String: String], home: String? = nil) throws(S3ConfigurationError) -> Resolved? {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let key = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") {
            return Resolved(credentials: S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN")),
                            source: "environment")
        }
        let asked = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE")
        let profile = asked ?? "default"
        let files = sharedFiles(env, home: home)
        let fromCredentials = files.credentials.flatMap { parseINI(atPath: $0)?[profile] }
        let fromConfig = files.config.flatMap { parseINI(atPath: $0)?[profile == "default" ? "default" : "profile \(profile)"] }
        // The credentials file's keys win over the config file's, key by key.
        var merged = fromConfig ?? [:]
        for (k, v) in fromCredentials ?? [:] { merged[k] = v }
        if fromCredentials == nil && fromConfig == nil {
            if let asked {
                throw S3ConfigurationError("AWS profile '\(asked)' is in neither \(files.credentials ?? "~/.aws/credentials") nor \(files.config ?? "~/.aws/config"): check AWS_PROFILE")
            }
            return nil
        }
        if let key = merged["aws_access_key_id"], let secret = merged["aws_secret_access_key"], !key.isEmpty, !secret.isEmpty {
            let file = fromCredentials?["aws_access_key_id"] != nil ? files.credentials ?? "" : files.config ?? ""
            return Resolved(credentials: S3Credentials(accessKeyID: key, secretAccessKey: secret,
                                                       sessionToken: merged["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }),
                            source: "profile \(profile) (\(file))")
        }
        for (setting, kind) in [("role_arn", "assumes a role"), ("sso_session", "uses SSO"), ("sso_start_url", "uses SSO"),
                                ("credential_process", "runs a credential process"), ("web_identity_token_file", "uses a web identity")]
        where merged[setting] != nil {
            throw S3ConfigurationError("AWS profile '\(profile)' \(kind), which fanbench does not do: export its keys first, e.g. eval \"$(aws configure export-credentials --profile \(profile) --format env)\"")
        }
        if asked != nil {
            throw S3ConfigurationError("AWS profile '\(profile)' has no aws_access_key_id and aws_secret_access_key: add them, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        return nil
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's `region` in the config file.
    public static func region(_ env: [String: String], home: String? = nil) -> String? {
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let r = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") { return r }
        let profile = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE") ?? "default"
        guard let config = sharedFiles(env, home: home).config else { return nil }
        return parseINI(atPath: config)?[profile == "default" ? "default" : "profile \(profile)"]?["region"]
    }

    static func sharedFiles(_ env: [String: String], home: String?) -> (credentials: String?, config: String?) {
        let home = home ?? env["HOME"] ?? NSHomeDirectory()
        func path(_ variable: String, _ fallback: String) -> String? {
            if let p = env[variable], !p.isEmpty { return (p as NSString).expandingTildeInPath }
            return home.isEmpty ? nil : home + "/.aws/" + fallback
        }
        return (path("AWS_SHARED_CREDENTIALS_FILE", "credentials"), path("AWS_CONFIG_FILE", "config"))
    }

    /// The sections of an AWS INI file and their top-level `key = value` settings (indented
    /// lines belong to a nested setting such as `s3 =` and are skipped); nil when unreadable.
    static func parseINI(atPath path: String) -> [String: [String: String]]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parseINI(text)
    }

    static func parseINI(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if raw.first == " " || raw.first == "\t" { continue }
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                let name = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[section]?[key] = value
        }
        return sections
    }
}
