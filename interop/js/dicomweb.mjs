// The gateway's DICOMweb QC view through an independent client: the
// dicomweb-client library (the one OHIF and Slim use), under node, with
// dicom-parser (cornerstone's) reading what it retrieves.
//
//   node dicomweb.mjs FIXTURE.json
//
// cmd/gateway/interop_test.go starts the gateway, uploads the real test
// files and writes the fixture: the base URL, a QC reviewer's token and,
// for every stored instance, its de-identified UIDs (from the submission,
// not from the catalogue) and what its source file holds. Every check runs
// whatever fails before it; each prints "ok" or "FAIL" with the call, the
// HTTP status and the start of the body. Exit 1 if any failed.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import dicomweb from 'dicomweb-client';
import dicomParser from 'dicom-parser';
import XMLHttpRequest from 'xhr2';

// dicomweb-client is written for browsers: it sends through XMLHttpRequest.
globalThis.XMLHttpRequest = XMLHttpRequest;

const fixture = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const client = new dicomweb.api.DICOMwebClient({
  url: fixture.url,
  headers: { Authorization: `Bearer ${fixture.token}` },
  verbose: false,
});

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.70';
const RLE = '1.2.840.10008.1.2.5';
// PS3.18 8.7.3: never used with web services.
const FORBIDDEN_SYNTAXES = ['1.2.840.10008.1.2', '1.2.840.10008.1.2.2'];

// DICOM JSON attributes read below.
const T = {
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  ModalitiesInStudy: '00080061',
  Modality: '00080060',
  StudyDescription: '00081030',
  RetrieveURL: '00081190',
  PatientID: '00100020',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelData: '7FE00010',
};

let passed = 0;
let failed = 0;

// check runs one named check; a thrown error (a failed call or a broken
// expectation) fails it, and the run goes on.
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${describe(err)}`);
  }
}

// describe names what went wrong: for a failed request, its status and the
// start of its body, so that the server side can be fixed from the log.
function describe(err) {
  if (err && err.request) {
    const r = err.request;
    let body = '';
    if (r.response instanceof ArrayBuffer) {
      body = Buffer.from(r.response).toString('utf8', 0, 300);
    } else if (r.response != null) {
      body = JSON.stringify(r.response).slice(0, 300);
    } else if (typeof r.responseText === 'string') {
      body = r.responseText.slice(0, 300);
    }
    return `HTTP ${err.status} ${r._method ? r._method.toUpperCase() : 'GET'} ${r._url ? r._url.href : ''}: ${body}`;
  }
  if (err instanceof Expectation) return err.message;
  // A mistake of this script rather than an answer of the server: where.
  return err && err.stack ? err.stack.split('\n').slice(0, 2).join(' | ') : String(err);
}

// Expectation is a broken expectation about an answer.
class Expectation extends Error {}

function assert(cond, message) {
  if (!cond) throw new Expectation(message);
}

function value(ds, tag) {
  const a = ds[tag];
  return a && a.Value ? a.Value[0] : undefined;
}

function values(ds, tag) {
  const a = ds[tag];
  return a && a.Value ? a.Value : [];
}

// sameSet asserts that the UIDs of tag in results are exactly want.
function sameSet(results, tag, want, what) {
  assert(Array.isArray(results), `${what}: the answer is not an array: ${JSON.stringify(results).slice(0, 200)}`);
  const got = results.map((r) => value(r, tag)).sort();
  const exp = [...new Set(want)].sort();
  assert(
    got.length === exp.length && got.every((u, i) => u === exp[i]),
    `${what}: got ${got.length} [${got.join(', ')}], want ${exp.length} [${exp.join(', ')}]`,
  );
}

const sha256 = (bytes) => createHash('sha256').update(Buffer.from(bytes)).digest('hex');
const bytesOf = (part) =>
  ArrayBuffer.isView(part) ? new Uint8Array(part.buffer, part.byteOffset, part.byteLength) : new Uint8Array(part);

// parsePart10 checks that bytes are a DICOM file ("DICM" after the
// preamble) and parses it with dicom-parser.
function parsePart10(part, what) {
  const b = Buffer.from(bytesOf(part));
  assert(b.length > 132, `${what}: ${b.length} bytes`);
  assert(b.toString('latin1', 128, 132) === 'DICM', `${what}: no "DICM" at offset 128`);
  try {
    return dicomParser.parseDicom(b);
  } catch (err) {
    throw new Expectation(`${what}: dicom-parser: ${err.message || err}`);
  }
}

// pixelSHA256 hashes the native Pixel Data of a parsed file.
function pixelSHA256(ds) {
  const px = ds.elements.x7fe00010;
  assert(px && !px.encapsulatedPixelData, 'no native Pixel Data');
  return sha256(ds.byteArray.subarray(px.dataOffset, px.dataOffset + px.length));
}

const JPEG = [0xff, 0xd8, 0xff];
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
function startsWith(part, magic, what) {
  const b = bytesOf(part);
  assert(b.length > magic.length, `${what}: ${b.length} bytes`);
  assert(
    magic.every((m, i) => b[i] === m),
    `${what}: starts with ${Buffer.from(b.subarray(0, 8)).toString('hex')}, want ${Buffer.from(magic).toString('hex')}`,
  );
}

// ---- the fixture ---------------------------------------------------------

const all = fixture.instances;
const by = (pred) => all.filter(pred);
const uids = (list, key) => [...new Set(list.map((i) => i[key]))];
const one = (file) => {
  const i = all.find((x) => x.file === file);
  if (!i) throw new Expectation(`fixture has no ${file}`);
  return i;
};

const mr = one('3.dcm'); // native MR; its study has 2 series and 6 instances
const mrStudy = by((i) => i.study === mr.study);
const mrSeries = by((i) => i.series === mr.series);
const ct = one('5.dcm'); // two-frame CT
const pet1 = one('1.dcm');
const pet2 = one('2.dcm');
const cr = one('4.dcm');
const subj1 = by((i) => i.subject === 'S1-001');
const subj2 = by((i) => i.subject === 'S1-002');
const nativeSameAsMR = ['3.dcm', 'implicit.dcm', 'be.dcm', 'jpeg.dcm', 'rle.dcm'].map(one);

const frameSize = (i) => (i.rows * i.columns * i.samplesPerPixel * i.bitsAllocated) / 8;

// ---- QIDO-RS: studies ----------------------------------------------------

let studies = [];
await check('searchForStudies: every study of the trial', async () => {
  studies = await client.searchForStudies();
  sameSet(studies, T.StudyInstanceUID, uids(all, 'study'), 'studies');
});

await check('searchForStudies: the study-level attributes of the MR study', async () => {
  const s = studies.find((r) => value(r, T.StudyInstanceUID) === mr.study);
  assert(s, 'MR study missing');
  assert(value(s, T.PatientID) === 'S1-001', `PatientID ${value(s, T.PatientID)}`);
  assert(values(s, T.ModalitiesInStudy).includes('MR'), `ModalitiesInStudy ${JSON.stringify(values(s, T.ModalitiesInStudy))}`);
  assert(value(s, T.NumberOfStudyRelatedSeries) === uids(mrStudy, 'series').length,
    `NumberOfStudyRelatedSeries ${value(s, T.NumberOfStudyRelatedSeries)}, want ${uids(mrStudy, 'series').length}`);
  assert(value(s, T.NumberOfStudyRelatedInstances) === mrStudy.length,
    `NumberOfStudyRelatedInstances ${value(s, T.NumberOfStudyRelatedInstances)}, want ${mrStudy.length}`);
  const url = value(s, T.RetrieveURL);
  assert(typeof url === 'string' && url.endsWith(`/studies/${mr.study}`), `RetrieveURL ${url}`);
});

const studyCases = [
  ['PatientID=S1-001', { PatientID: 'S1-001' }, uids(subj1, 'study')],
  ['PatientID=S1-002', { PatientID: 'S1-002' }, uids(subj2, 'study')],
  ['PatientID=S1-00* (wildcard)', { PatientID: 'S1-00*' }, uids(all, 'study')],
  ['PatientID=S1-00? (wildcard)', { PatientID: 'S1-00?' }, uids(all, 'study')],
  ['PatientID=nobody', { PatientID: 'nobody' }, []],
  ['ModalitiesInStudy=MR', { ModalitiesInStudy: 'MR' }, [mr.study]],
  ['ModalitiesInStudy=PT', { ModalitiesInStudy: 'PT' }, [pet1.study, pet2.study]],
  ['ModalitiesInStudy=CT', { ModalitiesInStudy: 'CT' }, [ct.study]],
  ['StudyDescription=PET* (wildcard)', { StudyDescription: 'PET*' }, [pet1.study, pet2.study]],
  ['StudyDescription=*Prostate* (wildcard)', { StudyDescription: '*Prostate*' }, [mr.study]],
  ['StudyDescription=XR CHEST?AP*', { StudyDescription: 'XR CHEST?AP*' }, [cr.study]],
  ['StudyInstanceUID=the MR study', { StudyInstanceUID: mr.study }, [mr.study]],
  ['StudyInstanceUID=two studies (UID list)', { StudyInstanceUID: `${mr.study},${ct.study}` }, [mr.study, ct.study]],
  // De-identification emptied every AccessionNumber and remapped every UID:
  // the originals find nothing.
  ['AccessionNumber=the original MR accession number', { AccessionNumber: mr.originalAccession }, []],
  ['AccessionNumber=* (universal)', { AccessionNumber: '*' }, uids(all, 'study')],
  ['StudyInstanceUID=the original MR study UID', { StudyInstanceUID: mr.originalStudy }, []],
  ['PatientID=S1-001&ModalitiesInStudy=PT', { PatientID: 'S1-001', ModalitiesInStudy: 'PT' }, [pet1.study, pet2.study]],
  ['PatientID=S1-002&ModalitiesInStudy=PT', { PatientID: 'S1-002', ModalitiesInStudy: 'PT' }, []],
];
for (const [name, queryParams, want] of studyCases) {
  await check(`searchForStudies ${name}`, async () => {
    sameSet(await client.searchForStudies({ queryParams }), T.StudyInstanceUID, want, name);
  });
}

// StudyDate: the dates are shifted per subject, so the expected matches come
// from the unfiltered answer; the shift must keep the original intervals.
await check('searchForStudies StudyDate: single date and ranges', async () => {
  const date = (i) => {
    const s = studies.find((r) => value(r, T.StudyInstanceUID) === i.study);
    assert(s, `study of ${i.file} missing`);
    const d = value(s, T.StudyDate);
    assert(/^\d{8}$/.test(d || ''), `StudyDate of ${i.file}: ${d}`);
    return d;
  };
  const days = (d) => Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8)) / 86400000;
  const [d1, d2, d3] = [date(pet1), date(pet2), date(mr)];
  const shifted = days(d1) - days(d2);
  const original = days(pet1.originalStudyDate) - days(pet2.originalStudyDate);
  assert(shifted === original, `the shift changed the interval between the PET studies: ${shifted} days, originally ${original}`);
  assert(d1 !== pet1.originalStudyDate, 'StudyDate not shifted');
  const q = async (StudyDate) => client.searchForStudies({ queryParams: { PatientID: 'S1-001', StudyDate } });
  sameSet(await q(d3), T.StudyInstanceUID, [mr.study], `StudyDate=${d3}`);
  sameSet(await q(`${d2}-${d1}`), T.StudyInstanceUID, [pet1.study, pet2.study], `StudyDate=${d2}-${d1}`);
  sameSet(await q(`-${d1}`), T.StudyInstanceUID, [pet1.study, pet2.study], `StudyDate=-${d1}`);
  sameSet(await q(`${d3}-`), T.StudyInstanceUID, [mr.study], `StudyDate=${d3}-`);
  sameSet(await q(`${d1}-${d3}`), T.StudyInstanceUID, [pet1.study, mr.study], `StudyDate=${d1}-${d3}`);
});

await check('searchForStudies limit/offset: pages cover every study once', async () => {
  const seen = [];
  for (let offset = 0; offset < all.length; offset += 2) {
    const page = await client.searchForStudies({ queryParams: { limit: 2, offset } });
    assert(page.length <= 2, `limit=2&offset=${offset}: ${page.length} results`);
    seen.push(...page.map((r) => value(r, T.StudyInstanceUID)));
  }
  const want = uids(all, 'study');
  assert(seen.length === want.length && new Set(seen).size === want.length,
    `pages gave ${seen.length} studies (${new Set(seen).size} distinct), want ${want.length}`);
  const past = await client.searchForStudies({ queryParams: { offset: want.length } });
  assert(past.length === 0, `offset past the end: ${past.length} results`);
});

await check('searchForStudies includefield=StudyDescription', async () => {
  const res = await client.searchForStudies({ queryParams: { PatientID: 'S1-001', includefield: 'StudyDescription' } });
  sameSet(res, T.StudyInstanceUID, uids(subj1, 'study'), 'includefield');
  for (const i of [pet1, pet2, mr]) {
    const s = res.find((r) => value(r, T.StudyInstanceUID) === i.study);
    assert(value(s, T.StudyDescription) === i.studyDescription,
      `${i.file}: StudyDescription ${JSON.stringify(value(s, T.StudyDescription))}, want ${JSON.stringify(i.studyDescription)}`);
  }
});

await check('searchForStudies fuzzymatching=true PatientName=S1-001', async () => {
  const res = await client.searchForStudies({ queryParams: { PatientName: 'S1-001', fuzzymatching: 'true' } });
  const got = res.map((r) => value(r, T.StudyInstanceUID));
  for (const u of uids(subj1, 'study')) assert(got.includes(u), `study ${u} of S1-001 missing`);
});

// ---- QIDO-RS: series -----------------------------------------------------

const seriesCases = [
  ['every series (top level)', {}, uids(all, 'series')],
  ['Modality=MR (top level)', { queryParams: { Modality: 'MR' } }, uids(mrStudy, 'series')],
  ['PatientID=S1-002 (top level, a study key)', { queryParams: { PatientID: 'S1-002' } }, uids(subj2, 'series')],
  ['of the MR study', { studyInstanceUID: mr.study }, uids(mrStudy, 'series')],
  ['of the MR study, Modality=PT', { studyInstanceUID: mr.study, queryParams: { Modality: 'PT' } }, []],
  ['of the MR study, SeriesInstanceUID=first', { studyInstanceUID: mr.study, queryParams: { SeriesInstanceUID: mr.series } }, [mr.series]],
  ['of the MR study, limit=1', { studyInstanceUID: mr.study, queryParams: { limit: 1 } }, null],
];
for (const [name, options, want] of seriesCases) {
  await check(`searchForSeries ${name}`, async () => {
    const res = await client.searchForSeries(options);
    if (want === null) {
      assert(res.length === 1, `limit=1: ${res.length} results`);
      return;
    }
    sameSet(res, T.SeriesInstanceUID, want, name);
    for (const r of res) {
      const i = all.find((x) => x.series === value(r, T.SeriesInstanceUID));
      assert(value(r, T.Modality) === i.modality, `series ${i.series}: Modality ${value(r, T.Modality)}`);
      assert(value(r, T.NumberOfSeriesRelatedInstances) === by((x) => x.series === i.series).length,
        `series ${i.series}: NumberOfSeriesRelatedInstances ${value(r, T.NumberOfSeriesRelatedInstances)}`);
    }
  });
}

// ---- QIDO-RS: instances --------------------------------------------------

const mrClass = mr.sopClass;
const instanceCases = [
  ['every instance (top level)', {}, uids(all, 'sop')],
  ['SOPClassUID=MR (top level)', { queryParams: { SOPClassUID: mrClass } }, uids(by((i) => i.sopClass === mrClass), 'sop')],
  ['PatientID=S1-002 (top level, a study key)', { queryParams: { PatientID: 'S1-002' } }, uids(subj2, 'sop')],
  ['Modality=CT (top level, a series key)', { queryParams: { Modality: 'CT' } }, [ct.sop]],
  ['of the MR study', { studyInstanceUID: mr.study }, uids(mrStudy, 'sop')],
  ['of the first MR series', { studyInstanceUID: mr.study, seriesInstanceUID: mr.series }, uids(mrSeries, 'sop')],
  ['of the first MR series, SOPInstanceUID=one', { studyInstanceUID: mr.study, seriesInstanceUID: mr.series, queryParams: { SOPInstanceUID: mr.sop } }, [mr.sop]],
];
for (const [name, options, want] of instanceCases) {
  await check(`searchForInstances ${name}`, async () => {
    sameSet(await client.searchForInstances(options), T.SOPInstanceUID, want, name);
  });
}

await check('searchForInstances limit/offset: pages cover every instance once', async () => {
  const seen = [];
  for (let offset = 0; offset < all.length; offset += 4) {
    const page = await client.searchForInstances({ queryParams: { limit: 4, offset } });
    assert(page.length <= 4, `limit=4&offset=${offset}: ${page.length} results`);
    seen.push(...page.map((r) => value(r, T.SOPInstanceUID)));
  }
  assert(seen.length === all.length && new Set(seen).size === all.length,
    `pages gave ${seen.length} instances (${new Set(seen).size} distinct), want ${all.length}`);
});

await check('searchForInstances: instance-level attributes (Rows, Columns, NumberOfFrames)', async () => {
  const res = await client.searchForInstances({ studyInstanceUID: ct.study });
  sameSet(res, T.SOPInstanceUID, [ct.sop], 'CT study');
  const r = res[0];
  assert(value(r, T.Rows) === ct.rows && value(r, T.Columns) === ct.columns,
    `Rows/Columns ${value(r, T.Rows)}x${value(r, T.Columns)}, want ${ct.rows}x${ct.columns}`);
  assert(Number(value(r, T.NumberOfFrames)) === ct.frames, `NumberOfFrames ${value(r, T.NumberOfFrames)}, want ${ct.frames}`);
  assert(value(r, T.SOPClassUID) === ct.sopClass, `SOPClassUID ${value(r, T.SOPClassUID)}`);
});

// ---- WADO-RS: studies, series, instances ----------------------------------

// checkParts holds retrieved parts to exactly the instances want, each a
// DICOM file of the de-identified subject, in a syntax web services use.
function checkParts(parts, want, what) {
  assert(Array.isArray(parts), `${what}: not multipart`);
  const got = parts.map((p, n) => {
    const ds = parsePart10(p, `${what} part ${n + 1}`);
    const ts = ds.string('x00020010');
    assert(!FORBIDDEN_SYNTAXES.includes(ts), `${what} part ${n + 1}: transfer syntax ${ts} is not for web services`);
    const i = want.find((x) => x.sop === ds.string('x00080018'));
    assert(i, `${what} part ${n + 1}: unexpected SOP Instance UID ${ds.string('x00080018')}`);
    assert(ds.string('x0020000d') === i.study, `${what}: ${i.file}: StudyInstanceUID ${ds.string('x0020000d')}`);
    assert(ds.string('x0020000e') === i.series, `${what}: ${i.file}: SeriesInstanceUID ${ds.string('x0020000e')}`);
    assert(ds.string('x00100020') === i.subject, `${what}: ${i.file}: PatientID ${ds.string('x00100020')}`);
    return i.sop;
  });
  const exp = want.map((i) => i.sop).sort();
  got.sort();
  assert(got.length === exp.length && got.every((u, k) => u === exp[k]), `${what}: ${got.length} instances, want ${exp.length}`);
}

// retrieve asks for a study, series or instance in the given transfer
// syntax. dicomweb-client 0.11.3 cannot: retrieveStudy, retrieveSeries and
// retrieveInstance refuse every mediaTypes option (their check compares
// "application/" with "application/dicom"), so this calls the request they
// would have made, with the same Accept header.
const retrieve = (path, transferSyntaxUID) =>
  client._httpGetMultipartApplicationDicom(`${fixture.url}${path}`, [{ mediaType: 'application/dicom', transferSyntaxUID }], false, {});

await check('retrieveStudy (transfer-syntax=*): the MR study, every instance', async () => {
  checkParts(await retrieve(`/studies/${mr.study}`, '*'), mrStudy, 'study');
});

await check('retrieveStudy (default Accept): the MR study, every instance in Explicit VR Little Endian', async () => {
  const parts = await client.retrieveStudy({ studyInstanceUID: mr.study });
  checkParts(parts, mrStudy, 'study');
  parts.forEach((p, n) => {
    const ts = parsePart10(p, `part ${n + 1}`).string('x00020010');
    assert(ts === EXPLICIT_LE, `part ${n + 1}: transfer syntax ${ts}, want ${EXPLICIT_LE} (PS3.18 8.7.3.4: the default)`);
  });
});

await check('retrieveSeries (default Accept): the first MR series', async () => {
  checkParts(await client.retrieveSeries({ studyInstanceUID: mr.study, seriesInstanceUID: mr.series }), mrSeries, 'series');
});

await check('retrieveSeries (transfer-syntax=*): the second MR series', async () => {
  const second = by((i) => i.study === mr.study && i.series !== mr.series);
  checkParts(await retrieve(`/studies/${mr.study}/series/${second[0].series}`, '*'), second, 'series');
});

for (const i of all) {
  await check(`retrieveInstance (default Accept) ${i.file}: Explicit VR Little Endian, Pixel Data as the original's`, async () => {
    const part = await client.retrieveInstance({ studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop });
    checkParts([part], [i], i.file);
    const ds = parsePart10(part, i.file);
    const ts = ds.string('x00020010');
    assert(ts === EXPLICIT_LE, `transfer syntax ${ts}, want ${EXPLICIT_LE} (PS3.18 8.7.3.4: the default)`);
    assert(pixelSHA256(ds) === i.pixelSHA256, 'Pixel Data differs from the original\'s');
  });
}

await check('retrieveInstance transfer-syntax=1.2.840.10008.1.2.4.70: the JPEG Lossless instance as stored', async () => {
  const j = one('jpeg.dcm');
  const parts = await retrieve(`/studies/${j.study}/series/${j.series}/instances/${j.sop}`, JPEG_LOSSLESS);
  checkParts(parts, [j], 'jpeg.dcm');
  const ds = parsePart10(parts[0], 'jpeg.dcm');
  assert(ds.string('x00020010') === JPEG_LOSSLESS, `transfer syntax ${ds.string('x00020010')}`);
  assert(ds.elements.x7fe00010 && ds.elements.x7fe00010.encapsulatedPixelData, 'Pixel Data not encapsulated');
});

// ---- WADO-RS: metadata ---------------------------------------------------

// checkMetadata holds metadata items to exactly the instances want: their
// UIDs, the subject code, the image attributes, and Pixel Data as a
// BulkDataURI (PS3.18: metadata carries no bulk data inline).
function checkMetadata(items, want, what) {
  sameSet(items, T.SOPInstanceUID, want.map((i) => i.sop), what);
  for (const m of items) {
    const i = want.find((x) => x.sop === value(m, T.SOPInstanceUID));
    assert(value(m, T.StudyInstanceUID) === i.study && value(m, T.SeriesInstanceUID) === i.series, `${what}: ${i.file}: study/series UIDs`);
    assert(value(m, T.PatientID) === i.subject, `${what}: ${i.file}: PatientID ${value(m, T.PatientID)}`);
    assert(value(m, T.Rows) === i.rows && value(m, T.Columns) === i.columns, `${what}: ${i.file}: Rows/Columns`);
    const px = m[T.PixelData];
    assert(px, `${what}: ${i.file}: no Pixel Data attribute`);
    assert(typeof px.BulkDataURI === 'string' && !px.InlineBinary, `${what}: ${i.file}: Pixel Data ${JSON.stringify(px).slice(0, 120)}, want a BulkDataURI`);
  }
}

await check('retrieveStudyMetadata: the MR study', async () => {
  checkMetadata(await client.retrieveStudyMetadata({ studyInstanceUID: mr.study }), mrStudy, 'study metadata');
});

await check('retrieveSeriesMetadata: the first MR series', async () => {
  checkMetadata(await client.retrieveSeriesMetadata({ studyInstanceUID: mr.study, seriesInstanceUID: mr.series }), mrSeries, 'series metadata');
});

let mrMetadata;
for (const i of all) {
  await check(`retrieveInstanceMetadata ${i.file}`, async () => {
    const items = await client.retrieveInstanceMetadata({ studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop });
    checkMetadata(items, [i], i.file);
    if (i.frames > 1) {
      assert(Number(value(items[0], T.NumberOfFrames)) === i.frames, `NumberOfFrames ${value(items[0], T.NumberOfFrames)}`);
    }
    if (i === mr) mrMetadata = items[0];
  });
}

await check('retrieveBulkData: the MR Pixel Data through its BulkDataURI', async () => {
  assert(mrMetadata, 'no MR metadata');
  const uri = new URL(mrMetadata[T.PixelData].BulkDataURI, `${fixture.url}/`).href;
  const parts = await client.retrieveBulkData({ BulkDataURI: uri });
  assert(Array.isArray(parts) && parts.length === 1, `${parts.length} parts`);
  const b = bytesOf(parts[0]);
  assert(b.length === frameSize(mr) * mr.frames, `${b.length} bytes, want ${frameSize(mr) * mr.frames}`);
  assert(sha256(b) === mr.pixelSHA256, 'bulk data differs from the original Pixel Data');
});

// ---- WADO-RS: frames -----------------------------------------------------

// Native frames (application/octet-stream, Explicit VR Little Endian: the
// default) are rows*columns*samples*bits/8 bytes each, and the originals'.
// The big endian, implicit, JPEG Lossless and RLE copies of the MR image
// hold the same pixels, so their native frames are the MR original's.
for (const i of [...nativeSameAsMR, ct, pet1, cr, one('6.dcm')]) {
  const numbers = Array.from({ length: i.frames }, (_, k) => k + 1);
  await check(`retrieveInstanceFrames ${numbers.join(',')} of ${i.file}: native, ${frameSize(i)} bytes each, the original's`, async () => {
    const parts = await client.retrieveInstanceFrames({
      studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop, frameNumbers: numbers,
    });
    assert(parts.length === numbers.length, `${parts.length} parts, want ${numbers.length}`);
    parts.forEach((p, k) => {
      const b = bytesOf(p);
      assert(b.length === frameSize(i), `frame ${k + 1}: ${b.length} bytes, want ${frameSize(i)}`);
      assert(sha256(b) === i.frameSHA256[k], `frame ${k + 1} differs from the original's`);
    });
  });
}

await check('retrieveInstanceFrames 2 of 5.dcm: only the second frame', async () => {
  const parts = await client.retrieveInstanceFrames({ studyInstanceUID: ct.study, seriesInstanceUID: ct.series, sopInstanceUID: ct.sop, frameNumbers: [2] });
  assert(parts.length === 1 && sha256(bytesOf(parts[0])) === ct.frameSHA256[1], 'not the second frame');
});

await check('retrieveInstanceFrames 1 of jpeg.dcm as image/jpeg (1.2.840.10008.1.2.4.70): the stored JPEG Lossless frame', async () => {
  const j = one('jpeg.dcm');
  const parts = await client.retrieveInstanceFrames({
    studyInstanceUID: j.study, seriesInstanceUID: j.series, sopInstanceUID: j.sop, frameNumbers: [1],
    mediaTypes: [{ mediaType: 'image/jpeg', transferSyntaxUID: JPEG_LOSSLESS }],
  });
  assert(parts.length === 1, `${parts.length} parts`);
  assert(parts[0].contentType === 'image/jpeg', `part Content-Type ${parts[0].contentType}, want image/jpeg`);
  startsWith(parts[0], [0xff, 0xd8], 'JPEG frame');
  const b = bytesOf(parts[0]);
  assert(b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9, 'JPEG frame does not end with EOI');
});

// dicomweb-client knows RLE frames only by their pre-2019 media type
// image/x-dicom-rle; PS3.18 names it image/dicom-rle. Any image type in the
// RLE transfer syntax is asked for instead, which the standard answers
// with image/dicom-rle.
await check('retrieveInstanceFrames 1 of rle.dcm as image/* (1.2.840.10008.1.2.5): the stored RLE frame', async () => {
  const r = one('rle.dcm');
  const parts = await client.retrieveInstanceFrames({
    studyInstanceUID: r.study, seriesInstanceUID: r.series, sopInstanceUID: r.sop, frameNumbers: [1],
    mediaTypes: [{ mediaType: 'image/*', transferSyntaxUID: RLE }],
  });
  assert(parts.length === 1, `${parts.length} parts`);
  assert(parts[0].contentType === 'image/dicom-rle', `part Content-Type ${parts[0].contentType}, want image/dicom-rle`);
  const b = Buffer.from(bytesOf(parts[0]));
  const segments = b.readUInt32LE(0);
  assert(segments === (r.samplesPerPixel * r.bitsAllocated) / 8, `RLE header: ${segments} segments`);
  assert(b.readUInt32LE(4) === 64, `RLE header: first segment at ${b.readUInt32LE(4)}`);
});

await check('retrieveInstanceFrames 3 of 5.dcm (it has 2): refused', async () => {
  const ids = { studyInstanceUID: ct.study, seriesInstanceUID: ct.series, sopInstanceUID: ct.sop };
  await client.retrieveInstanceFrames({ ...ids, frameNumbers: [1] }); // the resource exists
  let status;
  try {
    await client.retrieveInstanceFrames({ ...ids, frameNumbers: [3] });
  } catch (err) {
    status = err.status;
  }
  assert(status === 400 || status === 404, `status ${status}, want 400 or 404`);
});

// ---- WADO-RS: rendered and thumbnails ---------------------------------------

const jpeg = [{ mediaType: 'image/jpeg' }];
const png = [{ mediaType: 'image/png' }];
for (const [i, types, magic, name] of [
  [mr, jpeg, JPEG, 'JPEG'], [mr, png, PNG, 'PNG'], [pet1, jpeg, JPEG, 'JPEG'], [ct, png, PNG, 'PNG'], [one('6.dcm'), jpeg, JPEG, 'JPEG'],
  // Stored compressed (JPEG Lossless, RLE): decoded by the gateway to render.
  [one('jpeg.dcm'), png, PNG, 'PNG'], [one('rle.dcm'), jpeg, JPEG, 'JPEG'],
]) {
  await check(`retrieveInstanceRendered ${i.file} as ${name}`, async () => {
    const parts = await client.retrieveInstanceRendered({ studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop, mediaTypes: types });
    const body = Array.isArray(parts) ? parts[0] : parts;
    startsWith(body, magic, `rendered ${i.file}`);
  });
}

await check('retrieveInstanceRendered 3.dcm with viewport=64,64', async () => {
  const parts = await client.retrieveInstanceRendered({
    studyInstanceUID: mr.study, seriesInstanceUID: mr.series, sopInstanceUID: mr.sop, mediaTypes: png,
    queryParams: { viewport: '64,64' },
  });
  const b = Buffer.from(bytesOf(Array.isArray(parts) ? parts[0] : parts));
  startsWith(b, PNG, 'rendered');
  const [w, h] = [b.readUInt32BE(16), b.readUInt32BE(20)];
  assert(w <= 64 && h <= 64 && (w === 64 || h === 64), `PNG is ${w}x${h}, want to fit 64x64`);
});

for (const [frames, types, magic, name] of [[[1], jpeg, JPEG, 'JPEG'], [[2], png, PNG, 'PNG']]) {
  await check(`retrieveInstanceFramesRendered frame ${frames} of 5.dcm as ${name}`, async () => {
    const parts = await client.retrieveInstanceFramesRendered({
      studyInstanceUID: ct.study, seriesInstanceUID: ct.series, sopInstanceUID: ct.sop, frameNumbers: frames, mediaTypes: types,
    });
    startsWith(Array.isArray(parts) ? parts[0] : parts, magic, 'rendered frame');
  });
}

await check('retrieveInstanceThumbnail 3.dcm as JPEG', async () => {
  const parts = await client.retrieveInstanceThumbnail({ studyInstanceUID: mr.study, seriesInstanceUID: mr.series, sopInstanceUID: mr.sop, mediaTypes: jpeg });
  startsWith(Array.isArray(parts) ? parts[0] : parts, JPEG, 'thumbnail');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
