package deid

import (
	"bytes"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

var subj = Subject{Site: "S1", Subject: "SUBJ-1", Visit: "BL"}

// ctObject returns a small CT header with the given extra elements.
func ctObject(class string, extra ...*dicom.Element) *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(dicom.SOPClassUID, "UI", class)
	ds.SetString(dicom.SOPInstanceUID, "UI", "1.2.826.0.1.3680043.2.1.100")
	ds.SetString(dicom.StudyInstanceUID, "UI", "1.2.826.0.1.3680043.2.1.1")
	ds.SetString(dicom.SeriesInstanceUID, "UI", "1.2.826.0.1.3680043.2.1.10")
	ds.SetString(dicom.PatientName, "PN", "Doe^Jane")
	ds.SetString(dicom.PatientID, "LO", "MRN12345")
	ds.SetString(dicom.Modality, "CS", "CT")
	for _, e := range extra {
		ds.Set(e)
	}
	return ds
}

func str(t dicom.Tag, vr, v string) *dicom.Element {
	return &dicom.Element{Tag: t, VR: vr, Value: dicom.PadString(vr, v)}
}

func sq(t dicom.Tag, items ...*dicom.Dataset) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "SQ", Items: items}
}

func item(es ...*dicom.Element) *dicom.Dataset {
	d := &dicom.Dataset{}
	for _, e := range es {
		d.Set(e)
	}
	return d
}

// Each action of the basic profile on a CT, by VR.
func TestDeidActions(t *testing.T) {
	p := mustProfile(t, Config{})
	orig := "1.2.826.0.1.3680043.2.1.7"
	tests := []struct {
		name  string
		in    *dicom.Element
		want  string // "" with gone: removed
		gone  bool
		items int // for sequences, -1: not checked
	}{
		{"X text", str(0x00081040, "LO", "Radiology"), "", true, -1},                   // Institutional Department Name
		{"X date", str(0x00101090, "LO", "x"), "", true, -1},                           // Medical Record Locator
		{"Z date", str(dicom.StudyDate, "DA", "20200102"), "", false, -1},              // Study Date
		{"Z time", str(dicom.StudyTime, "TM", "101010"), "", false, -1},                // Study Time
		{"Z/D type 2 on CT", str(dicom.ContentDate, "DA", "20200102"), "", false, -1},  // Content Date
		{"D PN", str(0x0040A123, "PN", "Smith^John"), "ANONYMOUS", false, -1},          // Person Name
		{"D DT", str(0x0040A120, "DT", "20200102101010"), "19000101000000", false, -1}, // DateTime
		{"D DA", str(0x0040A121, "DA", "20200102"), "19000101", false, -1},             // Date
		{"D TM", str(0x0040A122, "TM", "101010"), "000000", false, -1},                 // Time
		{"D CS", str(0x00080070, "LO", "ACME"), "", true, -1},                          // Manufacturer is not in the table: kept
		{"U", str(dicom.FrameOfReferenceUID, "UI", orig), p.UID(orig), false, -1},      // Frame of Reference UID
		{"U multi", str(0x00081155, "UI", orig+`\`+orig+".1"), p.UID(orig) + `\` + p.UID(orig+".1"), false, -1},
		{"X/D type 3 on CT", str(dicom.SeriesDate, "DA", "20200102"), "", true, -1}, // Series Date
		{"X/Z/D type 3", str(dicom.InstitutionName, "LO", "General"), "", true, -1}, // Institution Name
		{"X/Z/U* type 3", sq(tagReferencedImageSequence, item(str(0x00081155, "UI", orig))), "", true, -1},
		{"Z SQ", sq(0x0040A088, item(str(dicom.CodeValue, "SH", "X"))), "", false, 0},       // Verifying Observer Identification Code Sequence
		{"D SQ empty", sq(0x0040A073), "", false, 1},                                        // Verifying Observer Sequence
		{"X SQ", sq(0x00400275, item(str(dicom.AccessionNumber, "SH", "A"))), "", true, -1}, // Request Attributes Sequence
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := ctObject(classCT, tc.in)
			tag := tc.in.Tag
			if _, err := p.Apply(nil, ds, subj); err != nil {
				t.Fatal(err)
			}
			e := ds.Get(tag)
			switch {
			case tc.name == "D CS":
				if e == nil || e.String() != "ACME" {
					t.Errorf("Manufacturer %v, want kept", e)
				}
			case tc.gone:
				if e != nil {
					t.Errorf("%s not removed: %q", tag, e.Value)
				}
			case e == nil:
				t.Errorf("%s removed", tag)
			case tc.items >= 0:
				if len(e.Items) != tc.items || tc.items == 1 && len(e.Items[0].Elements) != 0 {
					t.Errorf("%s has %d items (%v), want %d empty", tag, len(e.Items), e.Items, tc.items)
				}
			case strings.Join(e.Strings(), `\`) != tc.want:
				t.Errorf("%s = %q, want %q", tag, e.Value, tc.want)
			}
		})
	}
}

// The conditional rows resolve by the IOD's Type of the attribute.
func TestDeidConditionalPerIOD(t *testing.T) {
	p := mustProfile(t, Config{})
	tests := []struct {
		class string
		tag   dicom.Tag
		want  action
	}{
		{classCT, dicom.ContentDate, actZero},                                   // Z/D, General Image 2C
		{classSR, dicom.ContentDate, actDummy},                                  // Z/D, SR Document General 1
		{"1.2.840.10008.5.1.4.1.1.2.1", dicom.ContentDate, actDummy},            // Enhanced CT, Multi-frame FG 1
		{"1.2.840.10008.5.1.4.1.1.104.1", dicom.ContentDate, actZero},           // Encapsulated PDF 2
		{"9.9.9", dicom.ContentDate, actDummy},                                  // unknown SOP class: Z/D -> D
		{classPET, dicom.SeriesDate, actDummy},                                  // X/D, PET Series 1
		{classCT, dicom.SeriesDate, actRemove},                                  // X/D, General Series 3
		{"9.9.9", dicom.SeriesDate, actRemove},                                  // unknown: X
		{"1.2.840.10008.5.1.4.1.1.4.1", tagDeviceSerialNumber, actDummy},        // X/Z/D, Enhanced General Equipment 1
		{classMR, tagDeviceSerialNumber, actRemove},                             // X/Z/D, General Equipment 3
		{"1.2.840.10008.5.1.4.1.1.481.5", tagOperatorsName, actZero},            // X/Z/D, RT Series 2
		{"1.2.840.10008.5.1.4.1.1.481.5", tagRTPlanDate, actZero},               // X/D, RT General Plan 2
		{"1.2.840.10008.5.1.4.1.1.1.1", tagAcquisitionContextSequence, actZero}, // X/Z, Acquisition Context 2
		{classCT, tagAcquisitionContextSequence, actRemove},
		{classSR, tagReferencedPPSSequence, actZero},                        // X/Z/D, SR Document Series 2
		{"1.2.840.10008.5.1.4.1.1.1.1", tagReferencedPPSSequence, actDummy}, // DX Series 1C
		{classCT, tagReferencedImageSequence, actRemove},                    // X/Z/U*, General Image 3
		{classCT, dicom.PatientID, actZero},
		{"1.2.840.10008.5.1.4.1.1.66.4", tagContentCreatorName, actZero},  // Z/D, Content Identification 2
		{"1.2.840.10008.5.1.4.1.1.2.1", tagAcquisitionDateTime, actDummy}, // X/Z/D, Enhanced CT Image 1C
	}
	for _, tc := range tests {
		conds := p.iods[tc.class]
		if conds == nil {
			conds = p.unknown
		}
		if got, ok := p.action(conds, 0, tc.tag); !ok || got != tc.want {
			t.Errorf("%s in %s: action %d, want %d", tc.tag, tc.class, got, tc.want)
		}
	}
	// Inside a Derivation Image Sequence item, the Source Image Sequence is
	// kept with its UIDs remapped.
	if got, _ := p.action(p.iods[classMR], tagDerivationImageSequence, tagSourceImageSequence); got != actKeepSQ {
		t.Errorf("nested Source Image Sequence: %d", got)
	}
	// Every conditional row resolves for every IOD of the table.
	for class, m := range p.iods {
		for tag, a := range m {
			if a == actCond {
				t.Errorf("%s in %s unresolved", tag, class)
			}
		}
	}
}

// Each option changes its rows as PS3.15 E.3 says; K wins over C.
func TestDeidOptions(t *testing.T) {
	tests := []struct {
		option string
		tag    dicom.Tag
		want   action
	}{
		{"", dicom.StudyDate, actZero},
		{RetainLongFullDates, dicom.StudyDate, actKeep},
		{RetainLongModifiedDates, dicom.StudyDate, actShift},
		{RetainPatientCharacteristics, dicom.PatientSex, actKeep},
		{RetainPatientCharacteristics, 0x00102110, actClean}, // Allergies
		{RetainDeviceIdentity, tagStationName, actKeep},
		{RetainInstitutionIdentity, dicom.InstitutionName, actKeep},
		{RetainUIDs, dicom.StudyInstanceUID, actKeep},
		{"", dicom.StudyInstanceUID, actRemap},
		{CleanDescriptors, dicom.StudyDescription, actClean},
		{"", dicom.StudyDescription, actRemove},
		{CleanStructuredContent, tagContentSequence, actClean},
		{CleanGraphics, 0x60003000, actClean},
		{CleanGraphics, 0x50103000, actClean},
		{"", 0x60024000, actRemove},
		{"", 0x60010010, actRemove}, // odd group: never matched as overlay (private path)
	}
	for _, tc := range tests {
		var cfg Config
		if tc.option != "" {
			cfg.Options = []string{tc.option}
		}
		p := mustProfile(t, cfg)
		if tc.tag.IsPrivate() {
			if _, ok := p.action(p.iods[classCT], 0, tc.tag); ok {
				t.Errorf("%s: private tag matched a table row", tc.tag)
			}
			continue
		}
		if got, _ := p.action(p.iods[classCT], 0, tc.tag); got != tc.want {
			t.Errorf("%q %s: action %d, want %d", tc.option, tc.tag, got, tc.want)
		}
	}
	// Several options on one row: Retain Device Identity's K beats the
	// modified dates' C on Date of Last Calibration.
	p := mustProfile(t, Config{Options: []string{RetainDeviceIdentity, RetainLongModifiedDates}})
	if got, _ := p.action(p.iods[classCT], 0, 0x00181200); got != actKeep {
		t.Errorf("K and C on one row: %d", got)
	}
	// Allergies has C of two options: cleaned.
	p = mustProfile(t, Config{Options: []string{RetainPatientCharacteristics, CleanDescriptors}})
	if got, _ := p.action(p.iods[classCT], 0, 0x00102110); got != actClean {
		t.Errorf("C and C on one row: %d", got)
	}
}

var uidPattern = regexp.MustCompile(`^2\.25\.(0|[1-9][0-9]*)$`)

// UIDs remap deterministically, per trial key, to valid 2.25 UIDs.
func TestDeidUID(t *testing.T) {
	p := mustProfile(t, Config{})
	q, err := New("TRIAL-2", Config{}, TrialKey([]byte(strings.Repeat("m", 32)), "TRIAL-2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"1.2.3", "1.2.826.0.1.3680043.2.1.100", "9", strings.Repeat("1.", 31) + "1"} {
		got := p.UID(u)
		if !uidPattern.MatchString(got) || len(got) > 64 {
			t.Errorf("UID(%q) = %q: not a valid 2.25 UID of at most 64 characters", u, got)
		}
		if p.UID(u) != got || p.UID(u+"\x00") != got {
			t.Errorf("UID(%q) is not deterministic", u)
		}
		if q.UID(u) == got {
			t.Errorf("UID(%q) is the same under another trial's key", u)
		}
	}
	if p.UID("1.2.3") == p.UID("1.2.4") {
		t.Error("two UIDs collide")
	}
	if got := p.UID(dicom.ExplicitVRLittleEndian); got != dicom.ExplicitVRLittleEndian {
		t.Errorf("well-known UID remapped to %q", got)
	}
	if ps := p.Pseudonym("MRN12345"); len(ps) != 64 || ps == p.Pseudonym("MRN12346") || strings.Contains(p.UID("MRN12345"), ps) {
		t.Errorf("pseudonym %q", ps)
	}
}

// Dates shift by a per-subject offset of 365-3650 days back; times stay.
func TestDeidDateShift(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{RetainLongModifiedDates}})
	offsets := map[int]bool{}
	for _, s := range []string{"SUBJ-1", "SUBJ-2", "SUBJ-3", "SUBJ-4"} {
		d := p.dateOffset(s)
		if d < -3650 || d > -365 || d != p.dateOffset(s) {
			t.Errorf("offset of %s: %d", s, d)
		}
		offsets[d] = true
	}
	if len(offsets) < 4 {
		t.Errorf("subjects share offsets: %v", offsets)
	}
	apply := func(s string) *dicom.Dataset {
		ds := ctObject(classCT, str(dicom.StudyDate, "DA", "20200301"), str(dicom.AcquisitionDate, "DA", "20200305"),
			str(dicom.StudyTime, "TM", "101010"), str(tagAcquisitionDateTime, "DT", "20200301101010.5+0100"),
			str(0x00080012, "DA", "2020.03.01")) // not a valid DA: the dummy date
		if _, err := p.Apply(nil, ds, Subject{Subject: s}); err != nil {
			t.Fatal(err)
		}
		return ds
	}
	a, b := apply("SUBJ-1"), apply("SUBJ-2")
	if a.String(dicom.StudyDate) == b.String(dicom.StudyDate) || a.String(dicom.StudyDate) == "20200301" {
		t.Errorf("study dates %s, %s", a.String(dicom.StudyDate), b.String(dicom.StudyDate))
	}
	if a.String(dicom.StudyTime) != "101010" {
		t.Errorf("study time changed: %s", a.String(dicom.StudyTime))
	}
	// Intervals are preserved: the acquisition stays 4 days after the study.
	if got := shiftBy(t, a.String(dicom.StudyDate), 4); got != a.String(dicom.AcquisitionDate) {
		t.Errorf("interval not preserved: %s + 4 days = %s, acquisition %s", a.String(dicom.StudyDate), got, a.String(dicom.AcquisitionDate))
	}
	if dt := a.String(tagAcquisitionDateTime); dt[:8] != a.String(dicom.StudyDate) || dt[8:] != "101010.5+0100" {
		t.Errorf("DT %s", dt)
	}
	if got := a.String(0x00080012); got != dummyDA {
		t.Errorf("invalid date became %q", got)
	}
	if a.String(tagLongitudinalTemporal) != "MODIFIED" {
		t.Errorf("(0028,0303) %q", a.String(tagLongitudinalTemporal))
	}
}

func shiftBy(t *testing.T, da string, days int) string {
	t.Helper()
	a := &applier{offset: days}
	return string(bytes.TrimRight(a.shift(str(dicom.StudyDate, "DA", da)), " "))
}

// The trial's codes and the record of the de-identification are written.
func TestDeidTrialAttributes(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{RetainUIDs, CleanDescriptors}})
	ds := ctObject(classCT)
	meta := item(str(dicom.MediaStorageSOPInstanceUID, "UI", "1.2.826.0.1.3680043.2.1.100"), str(tagSourceAETitle, "AE", "SCANNER1"),
		str(tagPrivateInfoCreator, "UI", "1.2.3"), str(dicom.ImplementationClassUID, "UI", "1.2.3.4"))
	res, err := p.Apply(meta, ds, subj)
	if err != nil {
		t.Fatal(err)
	}
	want := map[dicom.Tag]string{
		dicom.PatientName: "SUBJ-1", dicom.PatientID: "SUBJ-1", dicom.ClinicalTrialSponsorName: "TRIAL-1",
		dicom.ClinicalTrialProtocolID: "TRIAL-1", dicom.ClinicalTrialSiteID: "S1", dicom.ClinicalTrialSubjectID: "SUBJ-1",
		dicom.ClinicalTrialTimePointID: "BL", dicom.PatientIdentityRemoved: "YES", tagLongitudinalTemporal: "REMOVED",
		dicom.ClinicalTrialProtocolName: "", dicom.ClinicalTrialSiteName: "",
	}
	for tag, v := range want {
		if e := ds.Get(tag); e == nil || e.String() != v {
			t.Errorf("%s = %v, want %q", tag, e, v)
		}
	}
	method := ds.Get(dicom.DeidentificationMethod).Strings()
	if strings.Join(method, `\`) != res.Method || len(method) != 4 || method[2] != "Retain UIDs Option" {
		t.Errorf("method %q (result %q)", method, res.Method)
	}
	for _, m := range method {
		if len(m) > 64 {
			t.Errorf("method value %q longer than LO allows", m)
		}
	}
	var codes []string
	for _, it := range ds.Get(dicom.DeidentificationMethodCodeSequence).Items {
		if it.String(dicom.CodingSchemeDesignator) != "DCM" || it.String(dicom.CodeMeaning) == "" {
			t.Errorf("code item %v", it.Elements)
		}
		codes = append(codes, it.String(dicom.CodeValue))
	}
	if strings.Join(codes, ",") != "113100,113110,113105" {
		t.Errorf("codes %v", codes)
	}
	if res.SOPInstanceUID != "1.2.826.0.1.3680043.2.1.100" || meta.String(dicom.MediaStorageSOPInstanceUID) != res.SOPInstanceUID {
		t.Errorf("retain_uids: SOP Instance UID %q, meta %q", res.SOPInstanceUID, meta.String(dicom.MediaStorageSOPInstanceUID))
	}
	if meta.Get(tagSourceAETitle) != nil || meta.Get(tagPrivateInfoCreator) != nil {
		t.Error("meta AE title or private information kept")
	}
	if meta.String(dicom.ImplementationClassUID) != ImplementationClassUID || meta.String(dicom.ImplementationVersionName) != ImplementationVersionName {
		t.Error("implementation identity not TrialGate's")
	}
	if res.Original.PatientID != p.Pseudonym("MRN12345") || res.Original.SOPInstanceUID != p.Pseudonym("1.2.826.0.1.3680043.2.1.100") {
		t.Errorf("original pseudonyms %+v", res.Original)
	}
	if strings.Join(res.Options, ",") != "retain_uids,clean_descriptors" {
		t.Errorf("options %v", res.Options)
	}
	// A sponsor present in the object is kept.
	ds = ctObject(classCT, str(dicom.ClinicalTrialSponsorName, "LO", "ACME Pharma"))
	if _, err := p.Apply(nil, ds, subj); err != nil || ds.String(dicom.ClinicalTrialSponsorName) != "ACME Pharma" {
		t.Errorf("sponsor %q, %v", ds.String(dicom.ClinicalTrialSponsorName), err)
	}
}

// Private attributes go, creators too, unless listed as safe (matched by
// creator, not block), at any level.
func TestDeidPrivate(t *testing.T) {
	build := func() *dicom.Dataset {
		inner := item(str(0x00290010, "LO", "SIEMENS CSA HEADER"), str(0x00291008, "CS", "IMAGE NUM 4"), str(0x00291009, "LO", "x"))
		return ctObject(classCT,
			str(0x00190010, "LO", "OTHER"), str(0x00190011, "LO", "SIEMENS MR HEADER"),
			str(0x00191008, "LO", "other's 08"), str(0x00191108, "LO", "safe value"), str(0x00191109, "LO", "unsafe"),
			str(0x00190001, "LO", "no block"), sq(0x00081115, inner))
	}
	ds := build()
	p := mustProfile(t, Config{})
	res, err := p.Apply(nil, ds, subj)
	if err != nil {
		t.Fatal(err)
	}
	ds.Walk(func(_ []*dicom.Element, e *dicom.Element) bool {
		if e.Tag.IsPrivate() {
			t.Errorf("private %s kept by the basic profile", e.Tag)
		}
		return true
	})
	if res.Counts.Removed < 9 {
		t.Errorf("removed %d", res.Counts.Removed)
	}

	p = mustProfile(t, Config{Options: []string{RetainSafePrivate},
		SafePrivate: []string{"0019,SIEMENS MR HEADER,08", "0029,SIEMENS CSA HEADER,08"}})
	ds = build()
	if _, err := p.Apply(nil, ds, subj); err != nil {
		t.Fatal(err)
	}
	var kept []string
	ds.Walk(func(_ []*dicom.Element, e *dicom.Element) bool {
		if e.Tag.IsPrivate() {
			kept = append(kept, e.Tag.String())
		}
		return true
	})
	if got := strings.Join(kept, " "); got != "(0029,0010) (0029,1008) (0019,0011) (0019,1108)" {
		t.Errorf("kept %s", got)
	}
}

// safe_private entries parse; bad ones are refused by New.
func TestDeidSafePrivateSyntax(t *testing.T) {
	good := map[string]safeKey{
		"0019,SIEMENS MR HEADER,08": {0x0019, "SIEMENS MR HEADER", 0x08},
		"7fd1,GEIIS,10":             {0x7FD1, "GEIIS", 0x10},
		"0009,A,B,ff":               {0x0009, "A,B", 0xFF},
	}
	for s, want := range good {
		if got, err := parseSafePrivate(s); err != nil || got != want {
			t.Errorf("%q: %+v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "0018,X,08", "0019,,08", "0019,X,8", "001G,X,08", "00190008", "0001,X,08", "0019,A\\B,08"} {
		if _, err := parseSafePrivate(s); err == nil {
			t.Errorf("%q accepted", s)
		}
		_, err := New("T", Config{Options: []string{RetainSafePrivate}, SafePrivate: []string{s}}, testKey())
		if trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("New with %q: %v", s, err)
		}
	}
}

// Objects known to carry burned-in text are held unless released.
func TestDeidHold(t *testing.T) {
	tests := []struct {
		name    string
		class   string
		extra   []*dicom.Element
		release []string
		held    bool
	}{
		{"plain CT", classCT, nil, nil, false},
		{"burned in YES", classCT, []*dicom.Element{str(dicom.BurnedInAnnotation, "CS", "YES")}, []string{"CT"}, true},
		{"US", classUS, []*dicom.Element{str(dicom.Modality, "CS", "US")}, nil, true},
		{"US released by modality", classUS, []*dicom.Element{str(dicom.Modality, "CS", "US")}, []string{"US"}, false},
		{"SC", classSC, []*dicom.Element{str(dicom.Modality, "CS", "OT")}, nil, true},
		{"MF true color SC released by class", "1.2.840.10008.5.1.4.1.1.7.4", nil, []string{"1.2.840.10008.5.1.4.1.1.7.4"}, false},
		{"screen save", classCT, []*dicom.Element{str(dicom.ImageType, "CS", `DERIVED\SECONDARY\SCREEN SAVE`)}, nil, true},
		{"endoscopy", "1.2.840.10008.5.1.4.1.1.77.1.1.1", nil, nil, true},
		{"burned in NO on CT", classCT, []*dicom.Element{str(dicom.BurnedInAnnotation, "CS", "NO")}, nil, false},
	}
	for _, tc := range tests {
		p := mustProfile(t, Config{ReleaseWithoutReview: tc.release})
		res, err := p.Apply(nil, ctObject(tc.class, tc.extra...), subj)
		if err != nil {
			t.Fatal(err)
		}
		if (res.Hold != "") != tc.held {
			t.Errorf("%s: hold %q, want held %v", tc.name, res.Hold, tc.held)
		}
	}
}

// B references A; after de-identification B's references are A's new UIDs.
func TestDeidCrossInstance(t *testing.T) {
	p := mustProfile(t, Config{})
	const forUID = "1.2.826.0.1.3680043.2.1.5"
	a := ctObject(classMR, str(dicom.FrameOfReferenceUID, "UI", forUID))
	b := ctObject(classMR, str(dicom.FrameOfReferenceUID, "UI", forUID),
		sq(tagReferencedSOPSequence, item(str(tagReferencedSOPClass, "UI", classMR), str(tagReferencedSOPInstance, "UI", a.String(dicom.SOPInstanceUID)))),
		sq(tagDerivationImageSequence, item(sq(tagSourceImageSequence, item(str(tagReferencedSOPClass, "UI", classMR), str(tagReferencedSOPInstance, "UI", a.String(dicom.SOPInstanceUID)))))))
	b.SetString(dicom.SOPInstanceUID, "UI", "1.2.826.0.1.3680043.2.1.101")
	ra, err := p.Apply(nil, a, subj)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := p.Apply(nil, b, subj)
	if err != nil {
		t.Fatal(err)
	}
	if ra.StudyInstanceUID != rb.StudyInstanceUID || ra.SeriesInstanceUID != rb.SeriesInstanceUID || a.String(dicom.FrameOfReferenceUID) != b.String(dicom.FrameOfReferenceUID) {
		t.Error("shared study, series or frame of reference differ after de-identification")
	}
	if ra.SOPInstanceUID == rb.SOPInstanceUID || ra.SOPInstanceUID == "1.2.826.0.1.3680043.2.1.100" {
		t.Errorf("SOP Instance UIDs %s %s", ra.SOPInstanceUID, rb.SOPInstanceUID)
	}
	ref := b.Get(tagReferencedSOPSequence).Items[0]
	if ref.String(tagReferencedSOPInstance) != ra.SOPInstanceUID || ref.String(tagReferencedSOPClass) != classMR {
		t.Errorf("Referenced SOP Sequence points to %s, want %s", ref.String(tagReferencedSOPInstance), ra.SOPInstanceUID)
	}
	src := b.Get(tagDerivationImageSequence).Items[0].Get(tagSourceImageSequence)
	if src == nil || src.Items[0].String(tagReferencedSOPInstance) != ra.SOPInstanceUID {
		t.Errorf("Source Image Sequence %v", src)
	}
}

// Same key and input give identical bytes, from many goroutines at once.
func TestDeidDeterministicConcurrent(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{RetainLongModifiedDates, CleanDescriptors}})
	run := func() []byte {
		var c corpus
		meta, ds := c.object(t, classPET)
		if _, err := p.Apply(meta, ds, subj); err != nil {
			t.Error(err)
			return nil
		}
		return encode(t, meta, ds)
	}
	want := run()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := run(); !bytes.Equal(got, want) {
				t.Error("output differs between runs")
			}
		})
	}
	wg.Wait()
}

// Objects that cannot be de-identified are EInvalid; so are bad profiles.
func TestDeidErrors(t *testing.T) {
	p := mustProfile(t, Config{})
	noInst := ctObject(classCT)
	noInst.Remove(dicom.SOPInstanceUID)
	noClass := ctObject(classCT)
	noClass.Remove(dicom.SOPClassUID)
	for name, tc := range map[string]struct {
		ds *dicom.Dataset
		s  Subject
	}{"no instance": {noInst, subj}, "no class": {noClass, subj}, "no subject": {ctObject(classCT), Subject{}}, "nil": {nil, subj}} {
		_, err := p.Apply(nil, tc.ds, tc.s)
		var te *trialgate.Error
		if !errors.As(err, &te) || te.Code != trialgate.EInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, f := range map[string]func() error{
		"short key":  func() error { _, err := New("T", Config{}, make([]byte, 16)); return err },
		"bad option": func() error { _, err := New("T", Config{Options: []string{"retain_all"}}, testKey()); return err },
		"both dates": func() error {
			_, err := New("T", Config{Options: []string{RetainLongFullDates, RetainLongModifiedDates}}, testKey())
			return err
		},
		"safe no opt": func() error {
			_, err := New("T", Config{SafePrivate: []string{"0019,X,08"}}, testKey())
			return err
		},
		"bad trial id": func() error { _, err := New("a b", Config{}, testKey()); return err },
	} {
		if err := f(); trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Clean removes the object's identifying values and long digit runs.
func TestDeidClean(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{CleanDescriptors}})
	ds := ctObject(classCT,
		str(dicom.StudyDescription, "LO", "CT chest for DOE jane 5551234 follow-up"),
		str(dicom.SeriesDescription, "LO", "mrn12345"),
		str(dicom.AccessionNumber, "SH", "ACC77"))
	if _, err := p.Apply(nil, ds, subj); err != nil {
		t.Fatal(err)
	}
	if got := ds.String(dicom.StudyDescription); got != "CT chest for follow-up" {
		t.Errorf("study description %q", got)
	}
	if got := ds.String(dicom.SeriesDescription); got != cleaned {
		t.Errorf("series description %q", got)
	}
}

// Clean Structured Content keeps the SR tree, cleaning its free text and
// applying the table inside.
func TestDeidCleanStructuredContent(t *testing.T) {
	p := mustProfile(t, Config{Options: []string{CleanStructuredContent}})
	inner := item(str(tagTextValue, "UT", "Seen with JANE doe, MRN12345, phone 5551234567."), str(0x0040A123, "PN", "Who^Doctor"),
		str(0x0040A121, "DA", "20200101"), str(0x0040A124, "UI", "1.2.826.0.1.3680043.2.1.9"))
	ds := ctObject(classSR, sq(tagContentSequence, item(str(tagTextValue, "UT", "12345"), sq(tagContentSequence, inner))))
	if _, err := p.Apply(nil, ds, subj); err != nil {
		t.Fatal(err)
	}
	outer := ds.Get(tagContentSequence).Items[0]
	if got := outer.String(tagTextValue); got != cleaned {
		t.Errorf("outer text %q", got)
	}
	in := outer.Get(tagContentSequence).Items[0]
	want := map[dicom.Tag]string{tagTextValue: "Seen with , , phone .", 0x0040A123: dummyName, 0x0040A121: dummyDA,
		0x0040A124: p.UID("1.2.826.0.1.3680043.2.1.9")}
	for tag, v := range want {
		if got := in.String(tag); got != v {
			t.Errorf("%s = %q, want %q", tag, got, v)
		}
	}
}

// Elements after Pixel Data follow the same rules.
func TestDeidTrailer(t *testing.T) {
	p := mustProfile(t, Config{})
	res, err := p.Apply(nil, ctObject(classCT), subj)
	if err != nil {
		t.Fatal(err)
	}
	before := res.Counts.Removed
	tr := item(str(0x00090010, "LO", "X"), str(0x00091001, "LO", "secret"), str(0x60003000, "OW", "ab"), str(0xFFFCFFFC, "OB", "\x00\x00"))
	if err := p.Trailer(tr, subj, res); err != nil {
		t.Fatal(err)
	}
	// Data Set Trailing Padding is an X row too.
	if len(tr.Elements) != 0 || res.Counts.Removed != before+4 {
		t.Errorf("trailer %v, removed %d", tr.Elements, res.Counts.Removed-before)
	}
}

// The embedded table is complete.
func TestDeidTable(t *testing.T) {
	rows, err := table()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 621 {
		t.Errorf("%d rows, want 621", len(rows))
	}
	p := mustProfile(t, Config{})
	if len(p.exact) != 617 {
		t.Errorf("%d exact rows, want 617 (621 less 4 wildcards)", len(p.exact))
	}
}

// decimal128 agrees with math/big.
func TestDeidDecimal128(t *testing.T) {
	for _, v := range [][2]uint64{{0, 0}, {0, 1}, {0, 1<<64 - 1}, {1, 0}, {1<<64 - 1, 1<<64 - 1}, {12345, 67890}, {0x8AC72304, 0x89E80000}} {
		want := new(big.Int).Add(new(big.Int).Lsh(new(big.Int).SetUint64(v[0]), 64), new(big.Int).SetUint64(v[1])).String()
		if got := decimal128(v[0], v[1]); got != want {
			t.Errorf("decimal128(%d, %d) = %s, want %s", v[0], v[1], got, want)
		}
	}
}
