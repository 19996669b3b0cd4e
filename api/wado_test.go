package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// wadoFixture is a trial with the real files stored for two subjects.
type wadoFixture struct {
	*ingestFixture
	base string // the trial's DICOMweb URL path
}

func newWADOFixture(t *testing.T) *wadoFixture {
	files := realFiles(t)
	f := &wadoFixture{ingestFixture: newIngestFixture(t, "T-WADO", realClasses), base: "/dicomweb/trials/T-WADO"}
	for _, up := range []struct {
		subject string
		files   []string
	}{{"SUBJ-001", []string{"1.dcm", "2.dcm", "4.dcm", "5.dcm", "6.dcm"}}, {"SUBJ-002", []string{"3.dcm"}}} {
		sub := f.submission(t, f.uploader, "S1", up.subject, "BL")
		var bodies [][]byte
		for _, name := range up.files {
			bodies = append(bodies, files[name])
		}
		if res := f.stow(t, "/dicomweb/submissions/"+sub+"/studies", f.uploader, "", dicomParts(bodies...)); res.status != http.StatusOK {
			t.Fatalf("STOW %s: %d %s", up.subject, res.status, res.raw)
		}
	}
	return f
}

// get sends a GET with an Accept header and returns status, headers, body.
func (f *wadoFixture) get(t *testing.T, path, accept string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.qc)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// search runs a QIDO-RS query and returns its matches.
func (f *wadoFixture) search(t *testing.T, path string) ([]map[string]json.RawMessage, http.Header) {
	t.Helper()
	status, h, body := f.get(t, path, "application/dicom+json")
	if status != http.StatusOK {
		t.Fatalf("QIDO %s: %d %s", path, status, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/dicom+json" {
		t.Errorf("QIDO %s: Content-Type %q", path, ct)
	}
	var out []map[string]json.RawMessage
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("QIDO %s: %v: %s", path, err, body)
	}
	return out, h
}

// str is the first value of an attribute of a DICOM JSON object as text.
func str(o map[string]json.RawMessage, tag string) string {
	var v struct{ Value []json.RawMessage }
	if json.Unmarshal(o[tag], &v) != nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Value[0], &s) == nil {
		return s
	}
	var pn struct{ Alphabetic string }
	if json.Unmarshal(v.Value[0], &pn) == nil && pn.Alphabetic != "" {
		return pn.Alphabetic
	}
	return string(v.Value[0])
}

// parts reads a multipart/related answer: each part's Content-Type and body.
func parts(t *testing.T, h http.Header, body []byte) (partType string, types []string, bodies [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return params["type"], types, bodies
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, b)
	}
}

// QIDO-RS at every level PS3.18 10.6 defines, with the required matching
// keys, absolute RetrieveURLs, includefield and paging.
func TestQIDOConformance(t *testing.T) {
	f := newWADOFixture(t)
	studies, _ := f.search(t, f.base+"/studies")
	byModality := map[string]map[string]json.RawMessage{}
	total := 0
	for _, s := range studies {
		url := str(s, "00081190")
		if !strings.HasPrefix(url, f.url+f.base+"/studies/"+str(s, "0020000D")) {
			t.Errorf("RetrieveURL %q is not the study's absolute URL", url)
		}
		if str(s, "00080056") != "ONLINE" || str(s, "00201206") == "" || str(s, "00201208") == "" {
			t.Errorf("study lacks availability or counts: %v", s)
		}
		n, _ := strconv.Atoi(str(s, "00201208"))
		total += n
		var mods struct{ Value []string }
		json.Unmarshal(s["00080061"], &mods)
		for _, m := range mods.Value {
			byModality[m] = s
		}
	}
	if total != 6 {
		t.Errorf("studies count %d instances, want 6", total)
	}
	mr := byModality["MR"]
	if mr == nil || str(mr, "00100020") != "SUBJ-002" {
		t.Fatalf("no MR study of SUBJ-002: %v", byModality)
	}
	mrDate := str(mr, "00080020")
	day, _ := strconv.Atoi(mrDate)
	count := func(path string) int { r, _ := f.search(t, path); return len(r) }
	tests := []struct {
		query string
		want  int // -1: as many as all studies
	}{
		{"PatientID=SUBJ-002", 1},
		{"PatientID=SUBJ-00?", -1},
		{"PatientID=SUBJ*", -1},
		{"PatientID=NOBODY", 0},
		{"ModalitiesInStudy=MR", 1},
		{`ModalitiesInStudy=MR\CR`, 2},
		{"ModalitiesInStudy=MR,CR", 2},
		{fmt.Sprintf("StudyDate=%s-%s", mrDate, mrDate), 1},
		{fmt.Sprintf("StudyDate=%s&PatientID=SUBJ-002", mrDate), 1},
		{fmt.Sprintf("StudyDate=-%08d&ModalitiesInStudy=MR", day-1), 0},
		{fmt.Sprintf("StudyDate=%08d-&ModalitiesInStudy=MR", day-1), 1},
		{"AccessionNumber=&ModalitiesInStudy=MR", 1},
		{"AccessionNumber=NO-SUCH-ACCESSION", 0},
		{"StudyInstanceUID=" + str(mr, "0020000D"), 1},
		{"StudyInstanceUID=" + str(mr, "0020000D") + "," + str(byModality["CR"], "0020000D"), 2},
		{"PatientName=subj-002&fuzzymatching=true", 1},
	}
	if d := str(mr, "00081030"); len(d) >= 2 {
		tests = append(tests, struct {
			query string
			want  int
		}{"StudyDescription=" + d[:2] + "*&PatientID=SUBJ-002", 1})
	}
	for _, tt := range tests {
		want := tt.want
		if want < 0 {
			want = len(studies)
		}
		if got := count(f.base + "/studies?" + strings.ReplaceAll(tt.query, `\`, "%5C")); got != want {
			t.Errorf("studies?%s: %d matches, want %d", tt.query, got, want)
		}
	}

	// Every level, study-relative and top-level.
	mrStudy := str(mr, "0020000D")
	series, _ := f.search(t, f.base+"/series?Modality=MR")
	if len(series) != 1 || str(series[0], "0020000D") != mrStudy || str(series[0], "00100020") != "SUBJ-002" || str(series[0], "00201209") != "1" {
		t.Fatalf("series?Modality=MR: %v (an all-series search carries the study's attributes)", series)
	}
	mrSeries := str(series[0], "0020000E")
	if url := str(series[0], "00081190"); url != f.url+f.base+"/studies/"+mrStudy+"/series/"+mrSeries {
		t.Errorf("series RetrieveURL %q", url)
	}
	rel, _ := f.search(t, f.base+"/studies/"+mrStudy+"/series")
	if len(rel) != 1 || str(rel[0], "0020000E") != mrSeries {
		t.Errorf("study's series: %v", rel)
	}
	if _, ok := rel[0]["00100020"]; ok {
		t.Errorf("a study's series search repeats the study attributes: %v", rel[0])
	}
	inst, _ := f.search(t, f.base+"/studies/"+mrStudy+"/instances")
	if len(inst) != 1 || str(inst[0], "0020000E") != mrSeries || str(inst[0], "00080016") == "" {
		t.Fatalf("study's instances: %v", inst)
	}
	mrSOP := str(inst[0], "00080018")
	all, _ := f.search(t, f.base+"/instances")
	if len(all) != 6 {
		t.Errorf("all instances: %d, want 6", len(all))
	}
	one, _ := f.search(t, f.base+"/instances?SOPInstanceUID="+mrSOP)
	if len(one) != 1 || str(one[0], "00100020") != "SUBJ-002" || str(one[0], "00080060") != "MR" {
		t.Errorf("instances?SOPInstanceUID: %v (an all-instances search carries study and series attributes)", one)
	}
	if got, _ := f.search(t, f.base+"/studies/"+mrStudy+"/series/"+mrSeries+"/instances?InstanceNumber="+str(inst[0], "00200013")); len(got) != 1 {
		t.Errorf("InstanceNumber match: %d", len(got))
	}

	// includefield, and paging with its Warning.
	withAll, _ := f.search(t, f.base+"/instances?SOPInstanceUID="+mrSOP+"&includefield=all")
	if len(withAll[0]) <= len(one[0]) {
		t.Errorf("includefield=all returned %d attributes, the default %d", len(withAll[0]), len(one[0]))
	}
	for tag, v := range withAll[0] {
		if strings.Contains(string(v), "InlineBinary") {
			t.Errorf("includefield=all returned binary %s", tag)
		}
	}
	field, _ := f.search(t, f.base+"/studies/"+mrStudy+"/series/"+mrSeries+"/instances?includefield=00180050")
	if _, ok := field[0]["00180050"]; !ok {
		t.Errorf("includefield=00180050 (SliceThickness) not returned: %v", field[0])
	}
	page1, h := f.search(t, f.base+"/instances?limit=2")
	page2, _ := f.search(t, f.base+"/instances?limit=2&offset=2")
	last, hLast := f.search(t, f.base+"/instances?limit=2&offset=4")
	if len(page1) != 2 || len(page2) != 2 || len(last) != 2 || str(page1[0], "00080018") == str(page2[0], "00080018") {
		t.Errorf("paging: %d, %d, %d", len(page1), len(page2), len(last))
	}
	if w := h.Get("Warning"); !strings.HasPrefix(w, "299 ") {
		t.Errorf("truncated answer: Warning %q", w)
	}
	if w := hLast.Get("Warning"); w != "" {
		t.Errorf("last page: Warning %q", w)
	}

	// Refusals: malformed keys and values are 400, unacceptable types 406.
	for _, q := range []string{"StudyDate=2020", "StudyInstanceUID=../../etc/passwd", "NoSuchKeyword=1", "limit=x",
		"PatientID.StudyID=1", "fuzzymatching=maybe", "includefield=Nonsense"} {
		if status, _, body := f.get(t, f.base+"/studies?"+q, ""); status != http.StatusBadRequest {
			t.Errorf("studies?%s: %d %s, want 400", q, status, body)
		}
	}
	if status, _, _ := f.get(t, f.base+"/studies/1.02.3/series", ""); status != http.StatusBadRequest {
		t.Errorf("invalid study UID in the path: %d, want 400", status)
	}
	for _, accept := range []string{"application/dicom+xml", `multipart/related; type="application/dicom+xml"`, "text/html"} {
		if status, _, _ := f.get(t, f.base+"/studies", accept); status != http.StatusNotAcceptable {
			t.Errorf("QIDO Accept %q: %d, want 406", accept, status)
		}
	}
}

// instanceRef is where an instance lives, from the all-instances search.
type instanceRef struct {
	study, series, sop, class, syntax string
	frames, rows, cols, bits          int
}

func (f *wadoFixture) instances(t *testing.T) []instanceRef {
	t.Helper()
	found, _ := f.search(t, f.base+"/instances?includefield=00280002")
	var out []instanceRef
	for _, o := range found {
		r := instanceRef{study: str(o, "0020000D"), series: str(o, "0020000E"), sop: str(o, "00080018"), class: str(o, "00080016"), frames: 1}
		if n, err := strconv.Atoi(str(o, "00280008")); err == nil {
			r.frames = n
		}
		r.rows, _ = strconv.Atoi(str(o, "00280010"))
		r.cols, _ = strconv.Atoi(str(o, "00280011"))
		r.bits, _ = strconv.Atoi(str(o, "00280100"))
		spp, _ := strconv.Atoi(str(o, "00280002"))
		if spp == 0 {
			spp = 1
		}
		r.cols *= spp // bytes per row follow from samples too
		out = append(out, r)
	}
	return out
}

// firstDifference returns the first tag at which two data sets hold
// different elements or values, or "". VRs are not compared: in implicit
// VR they come from the dictionary (a private element's is UN).
func firstDifference(a, b *dicom.Dataset) string {
	if len(a.Elements) != len(b.Elements) {
		return fmt.Sprintf("element count %d vs %d", len(a.Elements), len(b.Elements))
	}
	for i, e := range a.Elements {
		f := b.Elements[i]
		if e.Tag != f.Tag || !bytes.Equal(e.Value, f.Value) || len(e.Items) != len(f.Items) {
			return e.Tag.String()
		}
		for j := range e.Items {
			if d := firstDifference(e.Items[j], f.Items[j]); d != "" {
				return e.Tag.String() + "/" + d
			}
		}
	}
	return ""
}

func (r instanceRef) path(base string) string {
	return base + "/studies/" + r.study + "/series/" + r.series + "/instances/" + r.sop
}

// WADO-RS retrieval of studies, series and instances, with transfer
// syntax negotiation.
func TestWADORetrieveConformance(t *testing.T) {
	f := newWADOFixture(t)
	refs := f.instances(t)
	byStudy := map[string][]instanceRef{}
	for _, r := range refs {
		byStudy[r.study] = append(byStudy[r.study], r)
	}
	for study, want := range byStudy {
		status, h, body := f.get(t, f.base+"/studies/"+study, `multipart/related; type="application/dicom"`)
		if status != http.StatusOK {
			t.Fatalf("retrieve study: %d %s", status, body)
		}
		pt, types, bodies := parts(t, h, body)
		if pt != "application/dicom" || len(bodies) != len(want) {
			t.Fatalf("study %s: type %q, %d parts, want %d", study, pt, len(bodies), len(want))
		}
		for i, b := range bodies {
			obj, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
			if err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			if !strings.Contains(types[i], "transfer-syntax="+obj.Syntax.UID) {
				t.Errorf("part %d: Content-Type %q, object in %s", i, types[i], obj.Syntax.UID)
			}
			if !obj.Syntax.Encapsulated && obj.Syntax.UID != dicom.ExplicitVRLittleEndian {
				t.Errorf("part %d: default transfer syntax %s, want explicit VR little endian", i, obj.Syntax.UID)
			}
		}
	}
	r := refs[0]
	seriesPath := f.base + "/studies/" + r.study + "/series/" + r.series
	if status, h, body := f.get(t, seriesPath, ""); status != http.StatusOK {
		t.Errorf("retrieve series: %d %s", status, body)
	} else if _, _, bodies := parts(t, h, body); len(bodies) == 0 {
		t.Error("retrieve series: no parts")
	}

	// Every instance in implicit VR little endian, as asked; in JPEG, not.
	for _, r := range refs {
		status, h, body := f.get(t, r.path(f.base), `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2`)
		if status != http.StatusOK {
			t.Fatalf("implicit VR retrieve of %s: %d %s", r.sop, status, body)
		}
		_, _, bodies := parts(t, h, body)
		obj, err := dicom.Parse(bytes.NewReader(bodies[0]), dicom.Limits{})
		if err != nil || obj.Syntax.UID != dicom.ImplicitVRLittleEndian || obj.Dataset.String(dicom.SOPInstanceUID) != r.sop {
			t.Errorf("implicit VR retrieve of %s: %v, syntax %s", r.sop, err, obj.Syntax.UID)
		}
		asStored := f.retrieve(t, r.path(f.base), f.qc)
		stored, _ := dicom.Parse(bytes.NewReader(asStored), dicom.Limits{})
		if tag := firstDifference(obj.Dataset, stored.Dataset); tag != "" {
			t.Errorf("%s: the implicit VR header differs from the stored one at %s", r.sop, tag)
		}
		if status, _, _ := f.get(t, r.path(f.base), `multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50`); status != http.StatusNotAcceptable {
			t.Errorf("JPEG retrieve of an uncompressed %s: %d, want 406", r.sop, status)
		}
	}
	// One instance as a bare application/dicom.
	status, h, body := f.get(t, r.path(f.base), "application/dicom")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/dicom") || len(body) < 132 || string(body[128:132]) != "DICM" {
		t.Errorf("application/dicom retrieve: %d %q", status, h.Get("Content-Type"))
	}
	for _, accept := range []string{"text/html", "application/dicom+json", `multipart/related; type="image/jpeg"`} {
		if status, _, _ := f.get(t, r.path(f.base), accept); status != http.StatusNotAcceptable {
			t.Errorf("retrieve with Accept %q: %d, want 406", accept, status)
		}
	}
	if status, _, _ := f.get(t, f.base+"/studies/"+r.study, "application/dicom"); status != http.StatusNotAcceptable {
		t.Errorf("a study as one application/dicom: %d, want 406", status)
	}
	for _, p := range []string{"/studies/1.2.3", "/studies/" + r.study + "/series/1.2.3"} {
		if status, _, _ := f.get(t, f.base+p, ""); status != http.StatusNotFound {
			t.Errorf("retrieve %s: %d, want 404", p, status)
		}
	}
	if status, _, _ := f.get(t, f.base+"/studies/01.2", ""); status != http.StatusBadRequest {
		t.Errorf("retrieve of an invalid UID: %d, want 400", status)
	}
}

// WADO-RS metadata at every level, bulk data, frames, rendered images and
// thumbnails.
func TestWADOMetadataFramesRendered(t *testing.T) {
	f := newWADOFixture(t)
	refs := f.instances(t)
	var multi, mr instanceRef
	for _, r := range refs {
		if r.frames > 1 {
			multi = r
		}
		if r.class == "1.2.840.10008.5.1.4.1.1.4" {
			mr = r
		}
	}
	if multi.sop == "" || mr.sop == "" {
		t.Fatalf("no multi-frame or MR instance among %v", refs)
	}

	// Metadata: study, series and instance.
	for _, p := range []string{"/studies/" + mr.study, "/studies/" + mr.study + "/series/" + mr.series, "/studies/" + mr.study + "/series/" + mr.series + "/instances/" + mr.sop} {
		status, _, body := f.get(t, f.base+p+"/metadata", "application/dicom+json")
		var md []map[string]json.RawMessage
		if status != http.StatusOK || json.Unmarshal(body, &md) != nil || len(md) != 1 || str(md[0], "00080018") != mr.sop {
			t.Fatalf("metadata %s: %d %s", p, status, body)
		}
		var pixel struct{ BulkDataURI string }
		json.Unmarshal(md[0]["7FE00010"], &pixel)
		if pixel.BulkDataURI != f.url+mr.path(f.base)+"/bulkdata/7FE00010" {
			t.Errorf("Pixel Data BulkDataURI %q", pixel.BulkDataURI)
		}
	}
	status, h, body := f.get(t, mr.path(f.base)+"/bulkdata/7FE00010", "")
	if status != http.StatusOK {
		t.Fatalf("Pixel Data bulk data: %d %s", status, body)
	}
	if _, _, bodies := parts(t, h, body); len(bodies) != 1 || len(bodies[0]) != mr.rows*mr.cols*mr.bits/8 {
		t.Errorf("Pixel Data bulk data: %d parts", len(bodies))
	}
	if status, _, _ := f.get(t, mr.path(f.base)+"/bulkdata/00100010", ""); status != http.StatusNotFound {
		t.Errorf("bulk data of a text attribute: %d, want 404", status)
	}

	// Frames: in the order asked, each exactly one frame.
	frameSize := multi.rows * multi.cols * multi.bits / 8
	get := func(list string) [][]byte {
		status, h, body := f.get(t, multi.path(f.base)+"/frames/"+list, `multipart/related; type="application/octet-stream"`)
		if status != http.StatusOK {
			t.Fatalf("frames %s: %d %s", list, status, body)
		}
		pt, _, bodies := parts(t, h, body)
		if pt != "application/octet-stream" {
			t.Errorf("frames type %q", pt)
		}
		return bodies
	}
	one, two, both, reversed := get("1"), get("2"), get("1,2"), get("2,1")
	if len(one) != 1 || len(one[0]) != frameSize || len(both) != 2 || !bytes.Equal(both[0], one[0]) || !bytes.Equal(both[1], two[0]) ||
		!bytes.Equal(reversed[0], two[0]) || !bytes.Equal(reversed[1], one[0]) || bytes.Equal(one[0], two[0]) {
		t.Errorf("frames of %d bytes: got %d/%d/%d parts", frameSize, len(one), len(both), len(reversed))
	}
	for list, want := range map[string]int{"3": http.StatusNotFound, "0": http.StatusBadRequest, "x": http.StatusBadRequest, "1,,2": http.StatusBadRequest} {
		if status, _, body := f.get(t, multi.path(f.base)+"/frames/"+list, ""); status != want {
			t.Errorf("frames/%s: %d %s, want %d", list, status, body, want)
		}
	}
	if status, _, _ := f.get(t, multi.path(f.base)+"/frames/1", `multipart/related; type="image/jpeg"`); status != http.StatusNotAcceptable {
		t.Errorf("uncompressed frames as JPEG: %d, want 406", status)
	}

	// Rendered: PNG and JPEG of the instance's size, scaled by viewport.
	decode := func(path, accept string) image.Image {
		t.Helper()
		status, h, body := f.get(t, path, accept)
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		img, format, err := image.Decode(bytes.NewReader(body))
		if err != nil || "image/"+format != h.Get("Content-Type") {
			t.Fatalf("%s: %q decodes as %q: %v", path, h.Get("Content-Type"), format, err)
		}
		return img
	}
	for _, tt := range []struct {
		path, accept string
		w, h         int
	}{
		{mr.path(f.base) + "/rendered", "image/png", mr.cols, mr.rows},
		{mr.path(f.base) + "/rendered?window=100,200,LINEAR&quality=80", "image/jpeg", mr.cols, mr.rows},
		{multi.path(f.base) + "/frames/2/rendered", "", multi.cols, multi.rows},
		{multi.path(f.base) + "/frames/1/rendered?viewport=64,64", "image/png", 64, 64},
		{mr.path(f.base) + "/thumbnail", "", -200, -200},
		{f.base + "/studies/" + mr.study + "/thumbnail", "image/png", -200, -200},
		{f.base + "/studies/" + mr.study + "/series/" + mr.series + "/thumbnail", "", -200, -200},
	} {
		b := decode(tt.path, tt.accept).Bounds()
		switch {
		case tt.w < 0 && (b.Dx() > -tt.w || b.Dy() > -tt.h || b.Dx() == 0):
			t.Errorf("%s: %v, want within %dx%d", tt.path, b, -tt.w, -tt.h)
		case tt.w > 0 && (b.Dx() != tt.w || b.Dy() != tt.h):
			t.Errorf("%s: %v, want %dx%d", tt.path, b, tt.w, tt.h)
		}
	}
	for _, tt := range []struct {
		path, accept string
		want         int
	}{
		{mr.path(f.base) + "/rendered", "application/pdf", http.StatusNotAcceptable},
		{mr.path(f.base) + "/rendered?window=abc", "", http.StatusBadRequest},
		{mr.path(f.base) + "/rendered?annotation=patient", "", http.StatusBadRequest},
		{mr.path(f.base) + "/rendered?bogus=1", "", http.StatusBadRequest},
		{multi.path(f.base) + "/frames/9/rendered", "", http.StatusNotFound},
		{multi.path(f.base) + "/frames/1,2/rendered", "", http.StatusBadRequest},
	} {
		if status, _, body := f.get(t, tt.path, tt.accept); status != tt.want {
			t.Errorf("%s (Accept %q): %d %s, want %d", tt.path, tt.accept, status, body, tt.want)
		}
	}

	// Every retrieval is on the trial's chain.
	kinds := map[string]int{}
	for _, e := range f.trail(t) {
		if e.entry.Action == "instance.retrieved" {
			var after map[string]any
			json.Unmarshal(e.entry.After.(json.RawMessage), &after)
			kinds[fmt.Sprint(after["what"])]++
		}
	}
	for _, k := range []string{"metadata", "pixel data", "frames", "rendered"} {
		if kinds[k] == 0 {
			t.Errorf("no %s retrieval recorded: %v", k, kinds)
		}
	}
}
