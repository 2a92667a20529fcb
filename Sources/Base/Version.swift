/// fanbench's version: in `--version`, the handshake's `hello` and every report.
package let fanbenchVersion = "0.2.0"
