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

// xmlParserOption values used.
enum {
    FB_XML_PARSE_NOERROR = 1 << 5,
    FB_XML_PARSE_NOWARNING = 1 << 6,
    FB_XML_PARSE_NONET = 1 << 11,
};

#endif
