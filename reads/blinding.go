package reads

import (
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trialgate/trialgate/dicom"
)

// Blinder rewrites the headers a case's readers see (the reader's
// DICOMweb view), on top of the de-identification every stored object
// already had: the reader learns the case code and nothing of the
// subject, the site, the people, the protocol's visit names or, unless
// shifted, the dates. UIDs are never touched (they are de-identified and
// name the instances), nor is Pixel Data, which the catalogue streams.
type Blinder struct {
	// Code is the case code: PatientName and PatientID become it.
	Code string
	// Blinding is the design's: dates hidden or shifted, time points
	// labelled or hidden.
	Blinding Blinding
	// ShiftDays moves every date when Blinding.Dates is DatesShift.
	ShiftDays int
	// Timepoints maps a StudyInstanceUID to its blinded time point label
	// ("baseline", "follow-up 1"), written as (0012,0050) when time points
	// are labelled.
	Timepoints map[string]string
	// Forbidden are texts no value may keep: the subject code, the site's
	// id and name, the visits' ids and labels. They are removed from free
	// text wherever they stand as words, in any case.
	Forbidden []string

	once      sync.Once
	forbidden []string // upper case, non-empty, longest first
}

// Attributes a reader never sees (PS3.3 C.7.1.1 Patient, C.7.2.1 General
// Study, C.7.3.1 General Series, C.7.5.1 General Equipment, C.7.6.1 General
// Image), beyond the PN attributes, which are all emptied.
var blindRemove = map[dicom.Tag]bool{
	0x00080080: true, // InstitutionName
	0x00080081: true, // InstitutionAddress
	0x00080082: true, // InstitutionCodeSequence
	0x00081010: true, // StationName
	0x00081040: true, // InstitutionalDepartmentName
	0x00081041: true, // InstitutionDepartmentTypeCodeSequence
	0x00080092: true, // ReferringPhysicianAddress
	0x00080094: true, // ReferringPhysicianTelephoneNumbers
	0x00080096: true, // ReferringPhysicianIdentificationSequence
	0x00081049: true, // PhysiciansOfRecordIdentificationSequence
	0x00081052: true, // PerformingPhysicianIdentificationSequence
	0x00081062: true, // PhysiciansReadingStudyIdentificationSequence
	0x00081072: true, // OperatorIdentificationSequence
	0x00100021: true, // IssuerOfPatientID
	0x00100024: true, // IssuerOfPatientIDQualifiersSequence
	0x00100032: true, // PatientBirthTime
	0x00101000: true, // OtherPatientIDs
	0x00101001: true, // OtherPatientNames
	0x00101002: true, // OtherPatientIDsSequence
	0x00101005: true, // PatientBirthName
	0x00101040: true, // PatientAddress
	0x00101060: true, // PatientMotherBirthName
	0x00102154: true, // PatientTelephoneNumbers
	0x00102155: true, // PatientTelecomInformation
	0x00102180: true, // Occupation
	0x00104000: true, // PatientComments
	0x00321032: true, // RequestingPhysician
	0x00321033: true, // RequestingService
	0x00400006: true, // ScheduledPerformingPhysicianName
	0x00400241: true, // PerformedStationAETitle
	0x00400242: true, // PerformedStationName
	0x00400243: true, // PerformedLocation
	0x00401010: true, // NamesOfIntendedRecipientsOfResults
}

// Type 2 attributes kept, emptied.
var blindEmpty = map[dicom.Tag]bool{
	0x00080050: true, // AccessionNumber
	0x00200010: true, // StudyID
	0x00100030: true, // PatientBirthDate
}

// Group 0012 attributes kept: they describe the de-identification.
var blindKeep0012 = map[dicom.Tag]bool{
	0x00120062: true, // PatientIdentityRemoved
	0x00120063: true, // DeidentificationMethod
	0x00120064: true, // DeidentificationMethodCodeSequence
}

// prepare computes the forbidden texts once.
func (b *Blinder) prepare() {
	b.once.Do(func() {
		for _, f := range b.Forbidden {
			if f = strings.ToUpper(strings.TrimSpace(f)); f != "" {
				b.forbidden = append(b.forbidden, f)
			}
		}
		// Longest first, so "Follow-up one" goes before "Follow".
		for i := 1; i < len(b.forbidden); i++ {
			for j := i; j > 0 && len(b.forbidden[j]) > len(b.forbidden[j-1]); j-- {
				b.forbidden[j], b.forbidden[j-1] = b.forbidden[j-1], b.forbidden[j]
			}
		}
	})
}

// Rewrite blinds a data set in place. It is total: a value it cannot read
// (a date that does not parse) is emptied, never passed through.
func (b *Blinder) Rewrite(ds *dicom.Dataset) error {
	if ds == nil {
		return nil
	}
	b.prepare()
	study := ds.String(dicom.StudyInstanceUID)
	b.rewrite(ds)
	if study == "" {
		// Not an instance's main data set: the elements that follow Pixel
		// Data, which the catalogue rewrites apart. Nothing to add there.
		return nil
	}
	ds.SetString(dicom.PatientName, "PN", b.Code)
	ds.SetString(dicom.PatientID, "LO", b.Code)
	if b.Blinding.Timepoints == TimepointsLabel {
		if l := b.Timepoints[study]; l != "" {
			ds.SetString(dicom.ClinicalTrialTimePointID, "LO", l)
		}
	}
	return nil
}

// rewrite blinds one data set and, depth first, its items.
func (b *Blinder) rewrite(ds *dicom.Dataset) {
	kept := ds.Elements[:0]
	for _, e := range ds.Elements {
		t := e.Tag
		switch {
		case t.IsPrivate(), blindRemove[t], t.Group() == 0x0012 && !blindKeep0012[t]:
			continue
		case blindEmpty[t] || e.VR == "PN":
			e.Value = nil
		case e.VR == "DA" || e.VR == "DT":
			e.Value = b.date(e)
		case e.IsSequence():
			for _, it := range e.Items {
				b.rewrite(it)
			}
		case t == 0x00120063 && b.mentionsForbidden(string(e.Value)):
			e.Value = dicom.PadString(e.VR, "blinded")
		case isText(e.VR):
			if v, changed := b.clean(string(e.Value)); changed {
				e.Value = dicom.PadString(e.VR, v)
			}
		}
		kept = append(kept, e)
	}
	ds.Elements = kept
}

// isText reports whether a VR holds free text a site could have written
// a name into.
func isText(vr string) bool {
	switch vr {
	case "SH", "LO", "ST", "LT", "UT", "UC", "AE":
		return true
	}
	return false
}

// date returns a DA or DT value hidden or shifted.
func (b *Blinder) date(e *dicom.Element) []byte {
	if b.Blinding.Dates != DatesShift || len(e.Value) == 0 {
		return nil
	}
	vals := e.Strings()
	for i, v := range vals {
		s, ok := shiftDate(v, e.VR, b.ShiftDays)
		if !ok {
			return nil
		}
		vals[i] = s
	}
	return dicom.PadString(e.VR, strings.Join(vals, `\`))
}

// shiftDate moves a DA (YYYYMMDD) or the date of a DT
// (YYYYMMDD[HHMMSS.FFFFFF][&ZZXX]) by days; a DT of a year or a month
// alone cannot move by days without inventing precision, and is refused,
// as is anything that does not parse.
func shiftDate(v, vr string, days int) (string, bool) {
	if v == "" {
		return "", true
	}
	if len(v) < 8 {
		return "", false
	}
	d, err := time.Parse("20060102", v[:8])
	if err != nil {
		return "", false
	}
	rest := v[8:]
	if vr == "DA" && rest != "" {
		return "", false
	}
	for _, r := range rest {
		if !unicode.IsDigit(r) && r != '.' && r != '+' && r != '-' && r != '&' {
			return "", false
		}
	}
	return d.AddDate(0, 0, days).Format("20060102") + rest, true
}

// mentionsForbidden reports whether s holds a forbidden text as a word.
func (b *Blinder) mentionsForbidden(s string) bool {
	_, changed := b.clean(s)
	return changed
}

// clean removes every forbidden text that stands as a word in s (not
// inside a longer word: a forbidden "S1" leaves "S10"), in any case.
func (b *Blinder) clean(s string) (string, bool) {
	if len(b.forbidden) == 0 || s == "" {
		return s, false
	}
	upper := strings.ToUpper(s)
	if len(upper) != len(s) {
		// Case mapping changed the length (rare scripts): match on a
		// form where offsets agree, rune by rune.
		upper = upperSameLength(s)
	}
	changed := false
	for _, f := range b.forbidden {
		for from := 0; ; {
			i := strings.Index(upper[from:], f)
			if i < 0 {
				break
			}
			i += from
			j := i + len(f)
			if !wordEdge(upper, i, true) || !wordEdge(upper, j, false) {
				from = i + 1
				continue
			}
			s = s[:i] + s[j:]
			upper = upper[:i] + upper[j:]
			changed = true
			from = i
		}
	}
	if !changed {
		return s, false
	}
	return strings.Join(strings.Fields(s), " "), true
}

// upperSameLength upper-cases s rune by rune, keeping runes whose upper
// case has another length as they are.
func upperSameLength(s string) string {
	var sb strings.Builder
	for _, r := range s {
		u := unicode.ToUpper(r)
		if utf8.RuneLen(u) != utf8.RuneLen(r) {
			u = r
		}
		sb.WriteRune(u)
	}
	return sb.String()
}

// wordEdge reports whether position i of s is a word boundary: before is
// true for the start of a match (the rune before i must not be a letter or
// digit), false for its end (the rune at i must not be).
func wordEdge(s string, i int, before bool) bool {
	if before {
		if i == 0 {
			return true
		}
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r)
}
