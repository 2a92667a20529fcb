import CLibXML2

/// A minimal element tree read with libxml2's streaming reader (no network, no DTDs, no
/// entity expansion beyond XML's own): S3's responses are small, flat documents, and a tree
/// keeps their readers short. libxml2 is used directly because Foundation's XMLParser
/// bridging cost more CPU per call than the rest of a GetObjectAcl call together.
struct XMLElement: Sendable {
    var name: String
    var text: String = ""
    var attributes: [String: String] = [:]
    var children: [XMLElement] = []

    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// Text of the first child with that name.
    subscript(_ name: String) -> String? { child(name)?.text }

    private static let options = Int32(FB_XML_PARSE_NONET | FB_XML_PARSE_NOERROR | FB_XML_PARSE_NOWARNING)

    /// Parses a document; nil when it is not well-formed XML.
    static func parse(_ bytes: [UInt8]) -> XMLElement? {
        guard !bytes.isEmpty else { return nil }
        // Nothing on stderr for a broken document (found by scripts/fuzz): it is refused, not printed.
        fb_xml_silence()
        return bytes.withUnsafeBufferPointer { buffer -> XMLElement? in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            guard let reader = xmlReaderForMemory(base, Int32(buffer.count), nil, nil, options) else { return nil }
            defer { xmlFreeTextReader(reader) }
            var stack: [XMLElement] = []
            var root: XMLElement?
            while true {
                let rc = xmlTextReaderRead(reader)
                if rc == 0 { break }
                if rc < 0 { return nil }
                switch Int(xmlTextReaderNodeType(reader)) {
                case 1: // element
                    var element = XMLElement(name: string(xmlTextReaderConstLocalName(reader)))
                    if xmlTextReaderHasAttributes(reader) == 1 {
                        while xmlTextReaderMoveToNextAttribute(reader) == 1 {
                            element.attributes[string(xmlTextReaderConstName(reader))] = string(xmlTextReaderConstValue(reader))
                        }
                        xmlTextReaderMoveToElement(reader)
                    }
                    if xmlTextReaderIsEmptyElement(reader) == 1 {
                        if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                    } else {
                        stack.append(element)
                    }
                case 3, 4, 14: // text, CDATA, significant whitespace
                    if !stack.isEmpty { stack[stack.count - 1].text += string(xmlTextReaderConstValue(reader)) }
                case 15: // end of element
                    guard let done = stack.popLast() else { return nil }
                    if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
                default:
                    break
                }
            }
            return stack.isEmpty ? root : nil
        }
    }

    private static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }
}
