// The gateway's blinded reader view (/dicomweb/reads/{task}) through an
// independent client: dicomweb-client under node, dicom-parser reading
// what it retrieves.
//
//   node reader.mjs FIXTURE.json
//
// cmd/gateway/interop_test.go writes the fixture: the task's DICOMweb
// root, the reader's token, the case code, the texts that must not reach
// a reader (subject codes, site ids and names, source dates) and the
// instances of the case with their native pixel hashes. Each check prints
// "ok" or "FAIL"; exit 1 if any failed.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import dicomweb from 'dicomweb-client';
import dicomParser from 'dicom-parser';
import XMLHttpRequest from 'xhr2';

globalThis.XMLHttpRequest = XMLHttpRequest;

const fixture = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const client = new dicomweb.api.DICOMwebClient({
  url: fixture.url,
  headers: { Authorization: `Bearer ${fixture.token}` },
  verbose: false,
});

let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    const status = e && e.status ? ` (HTTP ${e.status})` : '';
    console.log(`FAIL ${name}${status}: ${e && e.message ? e.message : e}`);
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
const value = (obj, tag) => (obj[tag] && obj[tag].Value ? obj[tag].Value[0] : undefined);
const text = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
// blind checks that nothing forbidden appears anywhere in what came back.
function blind(what, body) {
  const s = typeof body === 'string' ? body : Buffer.from(body).toString('latin1');
  for (const f of fixture.forbidden) {
    assert(!s.includes(f), `${what} reveals ${JSON.stringify(f)}`);
  }
}
const sha256 = (b) => createHash('sha256').update(Buffer.from(b)).digest('hex');
const studies = [...new Set(fixture.instances.map((i) => i.study))].sort();

await check('searchForStudies: the case, under its code', async () => {
  const res = await client.searchForStudies();
  blind('studies', text(res));
  assert(res.length === studies.length, `${res.length} studies, want ${studies.length}`);
  for (const s of res) {
    assert(value(s, '00100020') === fixture.code, `PatientID ${value(s, '00100020')}, want the case code`);
    assert(studies.includes(value(s, '0020000D')), `unexpected study ${value(s, '0020000D')}`);
  }
});

await check('searchForInstances: every instance of the case, nothing else', async () => {
  const res = await client.searchForInstances();
  blind('instances', text(res));
  const got = res.map((i) => value(i, '00080018')).sort();
  const want = fixture.instances.map((i) => i.sop).sort();
  assert(got.length === want.length && got.every((u, k) => u === want[k]), `${got.length} instances, want ${want.length}`);
});

for (const i of fixture.instances) {
  await check(`retrieveInstanceMetadata ${i.file}`, async () => {
    const md = await client.retrieveInstanceMetadata({ studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop });
    blind(`metadata of ${i.file}`, text(md));
    assert(value(md[0], '00100010') && value(md[0], '00100010').Alphabetic === fixture.code, `PatientName ${text(value(md[0], '00100010'))}`);
  });
  await check(`retrieveInstance ${i.file}: blinded header, the source's pixels`, async () => {
    const part = await client.retrieveInstance({ studyInstanceUID: i.study, seriesInstanceUID: i.series, sopInstanceUID: i.sop });
    const bytes = new Uint8Array(part);
    const ds = dicomParser.parseDicom(bytes);
    const pix = ds.elements.x7fe00010;
    assert(pix, 'no Pixel Data');
    blind(`header of ${i.file}`, bytes.subarray(0, pix.dataOffset));
    assert(ds.string('x00100020') === fixture.code, `PatientID ${ds.string('x00100020')}`);
    const ts = ds.string('x00020010');
    if (ts === '1.2.840.10008.1.2.1' && i.pixelSHA256) {
      const got = sha256(bytes.subarray(pix.dataOffset, pix.dataOffset + pix.length));
      assert(got === i.pixelSHA256, `pixel data ${got}, want the source's ${i.pixelSHA256}`);
    }
  });
  await check(`retrieveInstanceFrames ${i.file} frame 1`, async () => {
    const frames = await client.retrieveInstanceFrames({ studyInstanceUID: i.study, seriesInstanceUID: i.series,
      sopInstanceUID: i.sop, frameNumbers: [1] });
    assert(frames.length === 1, `${frames.length} frames`);
    if (i.frameSHA256 && i.frameSHA256.length && i.samplesPerPixel === 1) {
      assert(sha256(frames[0]) === i.frameSHA256[0], 'frame 1 differs from the source');
    }
  });
}

await check('a study of another case does not exist here', async () => {
  try {
    await client.retrieveStudyMetadata({ studyInstanceUID: fixture.otherStudy });
  } catch (e) {
    assert(e.status === 404, `HTTP ${e.status}, want 404`);
    return;
  }
  throw new Error('another case\'s study was served');
});

if (failed > 0) {
  console.log(`${failed} checks failed`);
  process.exit(1);
}
