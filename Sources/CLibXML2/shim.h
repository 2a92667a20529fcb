#ifndef FANBENCH_CLIBXML2_SHIM_H
#define FANBENCH_CLIBXML2_SHIM_H

// The part of libxml2's xmlreader API fanbench uses, declared here rather than through
// <libxml/xmlreader.h>: that header pulls in ICU's, which clash with the copy Foundation
// bundles. These declarations are libxml2 2.x's stable ABI.

typedef unsigned char xmlChar;
typedef struct _xmlTextReader xmlTextReader;
typedef xmlTextReader *xmlTextReaderPtr;

xmlTextReaderPtr xmlReaderForMemory(const char *buffer, int size, const char *URL, const char *encoding, int options);
void xmlFreeTextReader(xmlTextReaderPtr reader);
int xmlTextReaderRead(xmlTextReaderPtr reader);
int xmlTextReaderNodeType(xmlTextReaderPtr reader);
int xmlTextReaderIsEmptyElement(xmlTextReaderPtr reader);
int xmlTextReaderHasAttributes(xmlTextReaderPtr reader);
int xmlTextReaderMoveToNextAttribute(xmlTextReaderPtr reader);
int xmlTextReaderMoveToElement(xmlTextReaderPtr reader);
const xmlChar *xmlTextReaderConstLocalName(xmlTextReaderPtr reader);
const xmlChar *xmlTextReaderConstName(xmlTextReaderPtr reader);
const xmlChar *xmlTextReaderConstValue(xmlTextReaderPtr reader);

// libxml2 reports some errors (an encoding it cannot convert, I/O) through its generic error
// handler, which writes to stderr whatever the parser options say: a malformed body from an
// endpoint would print into fanbench's output. The handler is per thread; set before each parse.
typedef void (*xmlGenericErrorFunc)(void *ctx, const char *msg, ...);
void xmlSetGenericErrorFunc(void *ctx, xmlGenericErrorFunc handler);
typedef void (*xmlStructuredErrorFunc)(void *userData, void *error);
void xmlSetStructuredErrorFunc(void *ctx, xmlStructuredErrorFunc handler);

static void fb_xml_ignore(void *ctx, const char *msg, ...) { (void)ctx; (void)msg; }
static void fb_xml_ignore_structured(void *ctx, void *error) { (void)ctx; (void)error; }
static inline void fb_xml_silence(void) {
    xmlSetGenericErrorFunc(0, fb_xml_ignore);
    xmlSetStructuredErrorFunc(0, fb_xml_ignore_structured);
}

// xmlParserOption values used.
enum {
    FB_XML_PARSE_NOERROR = 1 << 5,
    FB_XML_PARSE_NOWARNING = 1 << 6,
    FB_XML_PARSE_NONET = 1 << 11,
};

#endif
