package deid

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// The marker corpus: objects holding every row of Table E.1-1, each with a
// unique marker valid for its VR, at several nesting levels. After
// de-identification no marker may survive anywhere in the encoded output,
// except those of rows the profile keeps.

// SOP classes of the corpus.
const (
	classCT  = "1.2.840.10008.5.1.4.1.1.2"
	classMR  = "1.2.840.10008.5.1.4.1.1.4"
	classUS  = "1.2.840.10008.5.1.4.1.1.6.1"
	classSC  = "1.2.840.10008.5.1.4.1.1.7"
	classSR  = "1.2.840.10008.5.1.4.1.1.88.33"
	classPET = "1.2.840.10008.5.1.4.1.1.128"
)

// Sequences the corpus nests its levels in: not in the table, so kept and
// de-identified inside (ReferencedSeriesSequence, Radiopharmaceutical
// Information Sequence), and the SR's Content Sequence (a D row).
const (
	tagReferencedSeriesSequence dicom.Tag = 0x00081115
	tagRadiopharmaceuticalInfo  dicom.Tag = 0x00540016
	tagContentSequence          dicom.Tag = 0x0040A730
	tagReferencedSOPSequence    dicom.Tag = 0x00081199
	tagReferencedSOPInstance    dicom.Tag = 0x00081155
	tagReferencedSOPClass       dicom.Tag = 0x00081150
	tagTextValue                dicom.Tag = 0x0040A160
)

// marker is one marker value and the attribute holding it.
type marker struct {
	val    []byte
	tag    dicom.Tag
	parent dicom.Tag // the sequence holding the attribute, 0 at the top level
}

// corpus builds marked objects.
type corpus struct {
	markers []marker
	n       int // markers made, for uniqueness
}

// value returns a unique marker valid for vr at nesting level level
// (0-9). Text markers carry 6 digits so that Clean's digit rule removes
// them; dates of one level span fewer than 365 days and levels are 20
// years apart, so a shifted date never equals another marker.
func (c *corpus) value(vr string, level int, dates *int) []byte {
	c.n++
	id := c.n % 100000
	switch vr {
	case "DA":
		*dates++
		return []byte(dateAt(level, *dates))
	case "DT":
		*dates++
		return []byte(dateAt(level, *dates) + "123456.000000")
	case "TM":
		return dicom.PadString("TM", fmt.Sprintf("11%02d%02d.%06d", level, id%60, level*100000+id))
	case "UI":
		return dicom.PadString("UI", fmt.Sprintf("1.2.3.%d.1%05d", level, id))
	case "AS":
		return []byte(fmt.Sprintf("%03dW", (level*37+id)%1000))
	case "DS", "IS":
		return dicom.PadString(vr, fmt.Sprintf("-8%d%05d", level, id))
	case "US", "SS", "UL", "SL", "FL", "FD", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT", "SV", "UV":
		return []byte(fmt.Sprintf("M%d%06d", level, id)) // 8 bytes: a whole number of values of every binary VR
	}
	return dicom.PadString(vr, fmt.Sprintf("MRK%d%05d", level, id))
}

// dateAt returns the n-th date of level: 20 years apart per level.
func dateAt(level, n int) string {
	return fmt.Sprintf("%04d%02d%02d", 1960+20*level, 1+n/28, 1+n%28)
}

// add sets tag in ds to a marker, recording it.
func (c *corpus) add(ds *dicom.Dataset, parent, t dicom.Tag, vr string, level int, dates *int) {
	v := c.value(vr, level, dates)
	ds.Set(&dicom.Element{Tag: t, VR: vr, Value: v})
	c.markers = append(c.markers, marker{val: bytes.TrimRight(v, " \x00"), tag: t, parent: parent})
}

// level fills ds with every row of the table at nesting level level.
// Sequence rows get one item holding a marked Institution Name and a
// marked Referenced SOP Instance UID. skip names rows the caller fills.
func (c *corpus) level(t *testing.T, ds *dicom.Dataset, parent dicom.Tag, level int, skip ...dicom.Tag) {
	rows, err := table()
	if err != nil {
		t.Fatal(err)
	}
	dates := 0
	for _, r := range rows {
		_, tag, _ := r.match()
		switch r.Tag {
		case wildCurve, wildOverlayData, wildOverlayComment, wildPrivate:
			continue
		}
		if slices.Contains(skip, tag) || tag.Group() == 0x0002 {
			continue // the meta group is built separately
		}
		vr, _, ok := dicom.Lookup(tag)
		if !ok || tag.Group() == 0 {
			vr = "UN"
		}
		if vr == "SQ" {
			it := &dicom.Dataset{}
			c.add(it, tag, dicom.InstitutionName, "LO", level, &dates)
			c.add(it, tag, tagReferencedSOPInstance, "UI", level, &dates)
			ds.Set(&dicom.Element{Tag: tag, VR: "SQ", Items: []*dicom.Dataset{it}})
			continue
		}
		c.add(ds, parent, tag, vr, level, &dates)
	}
	// Wildcard rows, instantiated in several groups.
	for _, g := range []uint16{0x5000, 0x5002, 0x501E} {
		c.add(ds, parent, dicom.NewTag(g, 0x3000), "OB", level, &dates)
		c.add(ds, parent, dicom.NewTag(g, 0x2500), "LO", level, &dates)
	}
	for _, g := range []uint16{0x6000, 0x6002, 0x601E} {
		c.add(ds, parent, dicom.NewTag(g, 0x3000), "OW", level, &dates)
		c.add(ds, parent, dicom.NewTag(g, 0x4000), "LT", level, &dates)
	}
	// Private blocks: an unlisted creator with a private SQ, and a creator
	// whose element 05 the safe-private tests list.
	ds.SetString(0x00090010, "LO", "MRK CREATOR")
	c.markers = append(c.markers, marker{val: []byte("MRK CREATOR"), tag: 0x00090010, parent: parent})
	c.add(ds, parent, 0x00091001, "LO", level, &dates)
	c.add(ds, parent, 0x00091002, "UN", level, &dates)
	psq := &dicom.Dataset{}
	c.add(psq, 0x00091003, dicom.PatientName, "PN", level, &dates)
	ds.Set(&dicom.Element{Tag: 0x00091003, VR: "SQ", Items: []*dicom.Dataset{psq}})
	ds.SetString(0x00110010, "LO", "SAFE CO")
	ds.SetString(0x00110011, "LO", "OTHER CO")
	c.add(ds, parent, 0x00111005, "LO", level, &dates)
	c.add(ds, parent, 0x00111006, "LO", level, &dates)
	c.add(ds, parent, 0x00111105, "LO", level, &dates) // element 05 of OTHER CO: not listed
}

// object builds a marked object of class: the top level, one level inside
// a kept sequence, and per class further nesting.
func (c *corpus) object(t *testing.T, class string) (meta, ds *dicom.Dataset) {
	ds = &dicom.Dataset{}
	skip := []dicom.Tag{dicom.SOPClassUID}
	if class == classSR {
		skip = append(skip, tagContentSequence) // built below, 3 deep
	}
	c.level(t, ds, 0, 1, skip...)
	ds.SetString(dicom.SOPClassUID, "UI", class)
	nested := &dicom.Dataset{}
	c.level(t, nested, tagReferencedSeriesSequence, 2)
	ds.Set(&dicom.Element{Tag: tagReferencedSeriesSequence, VR: "SQ", Items: []*dicom.Dataset{nested}})
	switch class {
	case classSR: // Content Sequence nested 3 deep, every level holding every row
		var inner *dicom.Element
		for lvl := 5; lvl >= 3; lvl-- {
			it := &dicom.Dataset{}
			c.level(t, it, tagContentSequence, lvl, tagContentSequence)
			c.add(it, tagContentSequence, tagTextValue, "UT", lvl, new(int))
			if inner != nil {
				it.Set(inner)
			}
			inner = &dicom.Element{Tag: tagContentSequence, VR: "SQ", Items: []*dicom.Dataset{it}}
		}
		ds.Set(inner)
	case classPET: // Radiopharmaceutical Information Sequence, an item inside an item
		deep := &dicom.Dataset{}
		c.level(t, deep, tagRadiopharmaceuticalInfo, 4)
		mid := &dicom.Dataset{}
		c.level(t, mid, tagRadiopharmaceuticalInfo, 3)
		mid.Set(&dicom.Element{Tag: tagRadiopharmaceuticalInfo, VR: "SQ", Items: []*dicom.Dataset{deep}})
		ds.Set(&dicom.Element{Tag: tagRadiopharmaceuticalInfo, VR: "SQ", Items: []*dicom.Dataset{mid}})
	}
	meta = &dicom.Dataset{}
	meta.SetString(dicom.MediaStorageSOPClassUID, "UI", class)
	meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", ds.String(dicom.SOPInstanceUID))
	meta.SetString(dicom.TransferSyntaxUID, "UI", dicom.ExplicitVRLittleEndian)
	meta.SetString(dicom.ImplementationClassUID, "UI", "1.2.3.9.77")
	meta.SetString(tagSourceAETitle, "AE", "MRKAE1")
	c.markers = append(c.markers, marker{val: []byte("1.2.3.9.77"), tag: dicom.ImplementationClassUID}, marker{val: []byte("MRKAE1"), tag: tagSourceAETitle})
	return meta, ds
}

// encode writes meta and ds as a file, explicit VR little endian.
func encode(t *testing.T, meta, ds *dicom.Dataset) []byte {
	t.Helper()
	syn, err := dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := dicom.Encode(&b, meta, ds, syn); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b.Bytes()
}

// The basic profile leaves no marker anywhere; with options, only markers
// of rows the options keep survive (and TM values of the modified-dates
// rows, which that option keeps by design), and every top-level K row's
// marker does survive.
func TestDeidMarkerCorpus(t *testing.T) {
	configs := []struct {
		name string
		cfg  Config
	}{
		{"basic", Config{}},
		{"all_full_dates", Config{Options: []string{RetainLongFullDates, RetainPatientCharacteristics,
			RetainDeviceIdentity, RetainInstitutionIdentity, RetainUIDs, RetainSafePrivate,
			CleanDescriptors, CleanStructuredContent, CleanGraphics}, SafePrivate: []string{"0011,SAFE CO,05"}}},
		{"all_modified_dates", Config{Options: []string{RetainLongModifiedDates, RetainPatientCharacteristics,
			RetainDeviceIdentity, RetainInstitutionIdentity, RetainSafePrivate,
			CleanDescriptors, CleanStructuredContent, CleanGraphics}, SafePrivate: []string{"0011,SAFE CO,05"}}},
	}
	for _, o := range Options() {
		cfg := Config{Options: []string{o}}
		if o == RetainSafePrivate {
			cfg.SafePrivate = []string{"0011,SAFE CO,05"}
		}
		configs = append(configs, struct {
			name string
			cfg  Config
		}{o, cfg})
	}
	// Control: before de-identification every marker is in the encoding,
	// so a marker missing afterwards was removed, not lost by the test.
	for _, class := range []string{classCT, classSR, classPET} {
		var c corpus
		meta, ds := c.object(t, class)
		out := encode(t, meta, ds)
		for _, m := range c.markers {
			if !bytes.Contains(out, m.val) {
				t.Fatalf("%s: marker %q of %s not in the encoded input", class, m.val, m.tag)
			}
		}
		if len(c.markers) < 1200 {
			t.Fatalf("%s: only %d markers", class, len(c.markers))
		}
		t.Logf("%s: %d markers", class, len(c.markers))
	}
	for _, cf := range configs {
		for _, class := range []string{classCT, classMR, classUS, classSC, classSR, classPET} {
			t.Run(cf.name+"/"+class, func(t *testing.T) {
				p := mustProfile(t, cf.cfg)
				var c corpus
				meta, ds := c.object(t, class)
				res, err := p.Apply(meta, ds, Subject{Site: "S1", Subject: "SUBJ-1", Visit: "BL"})
				if err != nil {
					t.Fatal(err)
				}
				out := encode(t, meta, ds)
				conds := p.iods[class]
				survivors := 0
				for _, m := range c.markers {
					found := bytes.Contains(out, m.val)
					allowed := p.keeps(conds, m)
					if found && !allowed {
						t.Errorf("marker %q of %s (in %s) survived", m.val, m.tag, m.parent)
					}
					if found && m.tag != dicom.ClinicalTrialSponsorName {
						survivors++
					}
					if !found && allowed && m.parent == 0 && !m.tag.IsPrivateCreator() && !trialWritten(m.tag) {
						t.Errorf("marker %q of %s was kept by the profile but is missing", m.val, m.tag)
					}
				}
				if cf.name == "basic" && survivors != 0 {
					t.Errorf("%d markers survived the basic profile", survivors)
				}
				if res.Counts.Removed == 0 || res.SOPInstanceUID == "" {
					t.Errorf("result %+v", res)
				}
			})
		}
	}
}

// keeps reports whether the profile may keep marker m's value.
func (p *Profile) keeps(conds map[dicom.Tag]action, m marker) bool {
	switch {
	case m.tag == dicom.SOPClassUID:
		return true
	case m.tag == dicom.ClinicalTrialSponsorName && m.parent == 0:
		return true // kept by design: the sponsor is the trial's, not PHI
	case trialWritten(m.tag) && m.parent == 0:
		return false
	case m.tag.IsPrivate():
		if p.safe == nil {
			return false
		}
		if m.tag.IsPrivateCreator() {
			return m.tag == 0x00110010 // the listed creator stays with its element
		}
		return m.tag == 0x00111005
	case m.tag.Group() == 0x0002:
		return false
	}
	act, ok := p.action(conds, m.parent, m.tag)
	if !ok {
		// Not in the table (Text Value): kept unless inside a cleaned
		// sequence; its 6-digit marker is cleaned there.
		return m.parent != tagContentSequence
	}
	switch act {
	case actKeep:
		return true
	case actShift:
		vr, _, _ := dicom.Lookup(m.tag)
		return vr == "TM"
	}
	return false
}

// trialWritten reports whether Apply writes t at the top level from the
// trial's own codes, whatever the table says.
func trialWritten(t dicom.Tag) bool {
	switch t {
	case dicom.PatientName, dicom.PatientID, dicom.ClinicalTrialSponsorName, dicom.ClinicalTrialProtocolID,
		dicom.ClinicalTrialSiteID, dicom.ClinicalTrialSubjectID, dicom.ClinicalTrialTimePointID:
		return true
	}
	return false
}

// mustProfile compiles cfg for the test trial with a fixed key.
func mustProfile(t testing.TB, cfg Config) *Profile {
	t.Helper()
	p, err := New("TRIAL-1", cfg, testKey())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testKey() []byte { return TrialKey([]byte(strings.Repeat("m", 32)), "TRIAL-1") }
