package deid

import (
	"fmt"
	"hash"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
)

// Subject places an object in the trial. Its codes are the trial's own
// (not PHI): they become the object's Patient ID and Name and its Clinical
// Trial Subject module.
type Subject struct {
	Site    string // the trial's site id, (0012,0030)
	Subject string // the trial's subject code, (0012,0040), (0010,0020), (0010,0010)
	Visit   string // the visit (time point) id, (0012,0050)
}

// Result describes one de-identified object.
type Result struct {
	// The object's UIDs after de-identification.
	SOPClassUID       string `json:"sop_class_uid"`
	SOPInstanceUID    string `json:"sop_instance_uid"`
	SeriesInstanceUID string `json:"series_instance_uid"`
	StudyInstanceUID  string `json:"study_instance_uid"`
	// Original holds Pseudonym()s of the original values, for audit rows
	// that correlate without disclosing ("" where the object had none).
	Original struct {
		SOPInstanceUID string `json:"sop_instance_uid"`
		PatientID      string `json:"patient_id"`
	} `json:"original"`
	Counts Counts `json:"counts"`
	// Hold, when not empty, says why the object is held for burned-in
	// text review (quarantine) instead of released.
	Hold string `json:"hold,omitempty"`
	// Method is the (0012,0063) De-identification Method written, its
	// values joined by backslashes.
	Method string `json:"method"`
	// Options are the trial options applied (trial constants).
	Options []string `json:"options"`
}

// Counts says how many attributes each action touched, at every nesting
// level (a multi-valued attribute counts once).
type Counts struct {
	Removed  int `json:"removed"`  // X, private attributes included
	Emptied  int `json:"emptied"`  // Z
	Dummied  int `json:"dummied"`  // D
	Cleaned  int `json:"cleaned"`  // C
	Remapped int `json:"remapped"` // U, and sequences kept for their UID references (X/Z/U*)
	Kept     int `json:"kept"`     // K of an option, and safe private attributes
	Shifted  int `json:"shifted"`  // dates shifted (retain_long_modified_dates)
}

// Tags the package writes or reads beyond dicom's named tags.
const (
	tagSourceAETitle        dicom.Tag = 0x00020016
	tagSendingAETitle       dicom.Tag = 0x00020017
	tagReceivingAETitle     dicom.Tag = 0x00020018
	tagPrivateInfoCreator   dicom.Tag = 0x00020100
	tagPrivateInfo          dicom.Tag = 0x00020102
	tagLongitudinalTemporal dicom.Tag = 0x00280303
	tagOtherPatientIDsSeq   dicom.Tag = 0x00101002
)

// Apply de-identifies an object's meta group (may be nil) and data set
// (everything before Pixel Data) in place, for subject s. Objects that
// cannot be de-identified (no SOP Class or SOP Instance UID, no subject
// code) are trialgate.EInvalid errors; ds is then unchanged.
func (p *Profile) Apply(meta, ds *dicom.Dataset, s Subject) (*Result, error) {
	if ds == nil {
		return nil, trialgate.Errorf(trialgate.EInvalid, "de-identification: no data set")
	}
	if s.Subject == "" {
		return nil, trialgate.Errorf(trialgate.EInvalid, "de-identification: no subject code")
	}
	class, inst := ds.String(dicom.SOPClassUID), ds.String(dicom.SOPInstanceUID)
	switch {
	case class == "":
		return nil, trialgate.Errorf(trialgate.EInvalid, "de-identification: object has no SOP Class UID (0008,0016)")
	case inst == "":
		return nil, trialgate.Errorf(trialgate.EInvalid, "de-identification: object has no SOP Instance UID (0008,0018)")
	}

	res := &Result{Method: strings.Join(p.method, `\`), Options: p.Options()}
	res.Original.SOPInstanceUID = p.Pseudonym(inst)
	if id := ds.String(dicom.PatientID); id != "" {
		res.Original.PatientID = p.Pseudonym(id)
	}
	// Decisions and values taken from the original, before any change.
	res.Hold = p.hold(ds)
	sponsor := ds.String(dicom.ClinicalTrialSponsorName)
	a := p.newApplier(class, s, &res.Counts)
	if p.cleans {
		a.terms = identifiers(ds)
	}

	a.dataset(ds, false, 0)
	p.trialAttributes(ds, s, sponsor)
	res.SOPClassUID = ds.String(dicom.SOPClassUID)
	res.SOPInstanceUID = ds.String(dicom.SOPInstanceUID)
	res.SeriesInstanceUID = ds.String(dicom.SeriesInstanceUID)
	res.StudyInstanceUID = ds.String(dicom.StudyInstanceUID)
	p.meta(meta, res.SOPInstanceUID, &res.Counts)
	return res, nil
}

// Trailer de-identifies the elements that follow Pixel Data with the same
// rules, adding to res's counts (res is Apply's result for the object).
// The object's identifying values are not at hand here, so a Clean there
// replaces the value with a dummy. Use it as dicom's Write trailer:
//
//	obj.Write(w, func(t *dicom.Dataset) error { return p.Trailer(t, s, res) })
func (p *Profile) Trailer(ds *dicom.Dataset, s Subject, res *Result) error {
	if res == nil {
		return fmt.Errorf("deid: Trailer needs the Result of Apply")
	}
	if ds == nil || len(ds.Elements) == 0 {
		return nil
	}
	a := p.newApplier(res.SOPClassUID, s, &res.Counts)
	a.trailer = true
	a.dataset(ds, false, 0)
	return nil
}

// trialAttributes writes the trial's codes and the record of what was done
// (PS3.15 E.1.1, PS3.3 C.7.1.3).
func (p *Profile) trialAttributes(ds *dicom.Dataset, s Subject, sponsor string) {
	if sponsor == "" {
		sponsor = p.trialID
	}
	ds.SetString(dicom.PatientName, "PN", s.Subject)
	ds.SetString(dicom.PatientID, "LO", s.Subject)
	ds.SetString(dicom.ClinicalTrialSponsorName, "LO", sponsor)
	ds.SetString(dicom.ClinicalTrialProtocolID, "LO", p.trialID)
	for _, t := range []dicom.Tag{dicom.ClinicalTrialProtocolName, dicom.ClinicalTrialSiteName} {
		if ds.Get(t) == nil { // Type 2 in the Clinical Trial Subject module
			ds.SetString(t, "LO")
		}
	}
	ds.SetString(dicom.ClinicalTrialSiteID, "LO", s.Site)
	ds.SetString(dicom.ClinicalTrialSubjectID, "LO", s.Subject)
	ds.SetString(dicom.ClinicalTrialTimePointID, "LO", s.Visit)
	ds.SetString(dicom.PatientIdentityRemoved, "CS", "YES")
	ds.SetString(dicom.DeidentificationMethod, "LO", p.method...)
	items := make([]*dicom.Dataset, len(p.codes))
	for i, c := range p.codes {
		it := &dicom.Dataset{}
		it.SetString(dicom.CodeValue, "SH", c.value)
		it.SetString(dicom.CodingSchemeDesignator, "SH", "DCM")
		it.SetString(dicom.CodeMeaning, "LO", c.meaning)
		items[i] = it
	}
	ds.Set(&dicom.Element{Tag: dicom.DeidentificationMethodCodeSequence, VR: "SQ", Items: items})
	ds.SetString(tagLongitudinalTemporal, "CS", p.ltim)
}

// meta de-identifies the file meta group: the new SOP Instance UID, no AE
// titles or private information of the sender, TrialGate as the
// implementation that wrote the file.
func (p *Profile) meta(meta *dicom.Dataset, inst string, c *Counts) {
	if meta == nil {
		return
	}
	if meta.Get(dicom.MediaStorageSOPInstanceUID) != nil {
		if p.has[RetainUIDs] {
			c.Kept++
		} else {
			c.Remapped++
		}
	}
	meta.SetString(dicom.MediaStorageSOPInstanceUID, "UI", inst)
	for _, t := range []dicom.Tag{tagSourceAETitle, tagSendingAETitle, tagReceivingAETitle, tagPrivateInfoCreator, tagPrivateInfo} {
		if meta.Remove(t) {
			c.Removed++
		}
	}
	meta.SetString(dicom.ImplementationClassUID, "UI", ImplementationClassUID)
	meta.SetString(dicom.ImplementationVersionName, "SH", ImplementationVersionName)
}

// applier carries one object's state through the recursion: the resolved
// conditional actions of its IOD, its identifying values and its subject's
// date offset. It lives for one Apply or Trailer call.
type applier struct {
	p       *Profile
	conds   map[dicom.Tag]action
	terms   []string  // identifying values of the original, longest first
	offset  int       // date shift in days
	trailer bool      // no identifying values at hand: Clean means dummy
	mac     hash.Hash // HMAC with the trial key, reused for every UID
	c       *Counts
}

func (p *Profile) newApplier(class string, s Subject, c *Counts) *applier {
	a := &applier{p: p, conds: p.iods[class], c: c, mac: p.mac()}
	if a.conds == nil {
		a.conds = p.unknown
	}
	if p.has[RetainLongModifiedDates] {
		a.offset = p.dateOffset(s.Subject)
	}
	return a
}

// dataset de-identifies one data set (the top level or a sequence item).
// cleanText is set inside sequences the profile cleans (C): there free
// text the table does not name (e.g. an SR's Text Value) is cleaned too,
// since the table's rows alone do not cover free-form content.
// parent is the sequence holding ds (0 at the top level).
func (a *applier) dataset(ds *dicom.Dataset, cleanText bool, parent dicom.Tag) {
	var keep map[dicom.Tag]bool
	if a.p.safe != nil {
		keep = a.safePrivate(ds)
	}
	out := ds.Elements[:0]
	for _, e := range ds.Elements {
		if a.element(e, cleanText, keep, parent) {
			out = append(out, e)
		}
	}
	clear(ds.Elements[len(out):])
	ds.Elements = out
}

// element applies the profile to one element, reporting whether it stays.
func (a *applier) element(e *dicom.Element, cleanText bool, keep map[dicom.Tag]bool, parent dicom.Tag) bool {
	if e.Tag.IsPrivate() {
		return a.private(e, keep)
	}
	act, ok := a.p.action(a.conds, parent, e.Tag)
	if ok {
		return a.do(e, act)
	}
	// Not in Table E.1-1: a standard attribute the profile keeps.
	switch {
	case e.VR == "SQ":
		a.items(e, cleanText)
	case cleanText && isFreeText(e.VR):
		if a.clean(e) {
			a.c.Cleaned++
		}
	}
	return true
}

// action returns the profile's action for the standard (even group)
// attribute t inside the sequence parent (0 at the top level), with conds
// the conditional rows resolved for the object's IOD; ok is false for an
// attribute the table does not name.
func (p *Profile) action(conds map[dicom.Tag]action, parent, t dicom.Tag) (act action, ok bool) {
	var r rule
	switch g := t.Group(); {
	case g&0xFFE1 == 0x5000: // even groups 5000-501E
		r = p.curve
	case g&0xFFE1 == 0x6000 && t.Element() == 0x3000:
		r = p.ovData
	case g&0xFFE1 == 0x6000 && t.Element() == 0x4000:
		r = p.ovText
	default:
		if r, ok = p.exact[t]; !ok {
			return 0, false
		}
	}
	if r.act != actCond {
		return r.act, true
	}
	if typ, ok := nestedType(parent, t); ok {
		return resolve(r.cond, typ, true), true
	}
	return conds[t], true
}

// do performs act on e, reporting whether e stays.
func (a *applier) do(e *dicom.Element, act action) bool {
	sq := e.VR == "SQ"
	switch act {
	case actKeep:
		a.c.Kept++
		a.items(e, false)
	case actRemove:
		a.c.Removed++
		return false
	case actZero:
		a.c.Emptied++
		e.Value, e.Items = nil, nil
	case actDummy:
		a.c.Dummied++
		if sq {
			// The dummy of a sequence is one empty item: nothing of the
			// original content survives (the options that keep content,
			// e.g. Clean Structured Content, make the row C instead).
			e.Items = []*dicom.Dataset{{}}
		} else {
			e.Value = a.dummy(e)
		}
	case actClean:
		a.c.Cleaned++
		if sq {
			a.items(e, true)
		} else {
			a.clean(e)
		}
	case actShift:
		a.c.Shifted++
		switch e.VR {
		case "DA", "DT":
			e.Value = a.shift(e)
		case "TM": // times are kept: the shift is whole days
		case "SQ":
			a.items(e, false)
		default:
			a.clean(e)
		}
	case actRemap:
		a.c.Remapped++
		if sq {
			a.items(e, false)
		} else {
			e.Value = a.remap(e)
		}
	case actKeepSQ:
		if !sq { // a sequence written as UN cannot be de-identified inside
			a.c.Removed++
			return false
		}
		a.c.Remapped++
		a.items(e, false)
	}
	return true
}

// items de-identifies every item of a sequence.
func (a *applier) items(e *dicom.Element, cleanText bool) {
	for _, it := range e.Items {
		a.dataset(it, cleanText, e.Tag)
	}
}

// private decides a private element: removed (creators too), unless the
// Retain Safe Private option lists it (keep, from safePrivate).
func (a *applier) private(e *dicom.Element, keep map[dicom.Tag]bool) bool {
	if keep[e.Tag] {
		a.c.Kept++
		a.items(e, false)
		return true
	}
	a.c.Removed++
	return false
}

// safePrivate returns the private elements of ds that the profile's safe
// list keeps, with their creators. An element (gggg,xxee) belongs to the
// block whose creator is (gggg,00xx); creators sort before their blocks,
// so one pass finds them.
func (a *applier) safePrivate(ds *dicom.Dataset) map[dicom.Tag]bool {
	var creators map[uint32]string
	var keep map[dicom.Tag]bool
	for _, e := range ds.Elements {
		if !e.Tag.IsPrivate() {
			continue
		}
		g, el := uint32(e.Tag.Group()), uint32(e.Tag.Element())
		if e.Tag.IsPrivateCreator() {
			if creators == nil {
				creators = map[uint32]string{}
			}
			creators[g<<8|el] = strings.TrimRight(string(e.Value), " \x00")
			continue
		}
		if el < 0x1000 {
			continue
		}
		c, ok := creators[g<<8|el>>8]
		if !ok || !a.p.safe[safeKey{group: uint16(g), creator: c, elem: uint8(el)}] {
			continue
		}
		if keep == nil {
			keep = map[dicom.Tag]bool{}
		}
		keep[e.Tag] = true
		keep[dicom.NewTag(uint16(g), uint16(el>>8))] = true
	}
	return keep
}
