package catalog

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/dicom"
)

// levelTags are the attributes each level returns by default (PS3.18
// Tables 10.6.3-3, -4 and -5), besides the computed ones, plus those a
// trial's viewers need to address what they found: the Study Description,
// the Clinical Trial Subject module, and the UIDs of the levels above.
var levelTags = [][]string{
	StudyLevel: {"00080005", "00080020", "00080030", "00080050", "00080090", "00080201", "00081030",
		"00100010", "00100020", "00100030", "00100040", "0020000D", "00200010",
		"00120010", "00120020", "00120030", "00120040", "00120050", "00120051"},
	SeriesLevel: {"00080005", "00080060", "00080201", "0008103E", "0020000E", "00200011",
		"00400244", "00400245", "00400275", "0020000D"},
	InstanceLevel: {"00080005", "00080016", "00080018", "00080201", "00200013", "00280010", "00280011",
		"00280100", "00280008", "0020000D", "0020000E"},
}

// Result is the answer to a search: one page of matches, as DICOM JSON
// objects, and how many there were in all.
type Result struct {
	Matches []map[string]any
	Total   int
}

// Truncated reports whether matches after this page were left out.
func (r *Result) Truncated(q Query) bool { return q.Offset+len(r.Matches) < r.Total }

// Search runs a QIDO-RS search of the view that policy opens for ref. base
// is the absolute URL of the view's DICOMweb service, for RetrieveURL.
//
// Matching is per instance: a study or series matches when one of its
// instances matches every key (study attributes are the same on all of
// them), except Modalities in Study, which matches the study's set of
// modalities. Counts are over every instance of the view, matching or not.
func (c *Catalog) Search(ctx context.Context, p *auth.Principal, policy Policy, ref string, q Query, base string) (*Result, error) {
	object := audit.Object{Type: "dicomweb", ID: "view/" + ref}
	if q.Study != "" {
		object.ID = "study/" + q.Study
	}
	v, err := policy.Open(ctx, p, ref, object)
	if err != nil {
		return nil, err
	}
	var perInstance, perStudy []Key
	needHeader := false
	for _, k := range q.Keys {
		switch {
		case len(k.Path) == 1 && k.Path[0] == tagModalitiesInStudy:
			perStudy = append(perStudy, k)
		default:
			perInstance = append(perInstance, k)
			needHeader = needHeader || columnOf(k) == nil
		}
	}

	var rows []stored
	var matched []bool
	err = c.headers(ctx, v, Selection{Study: q.Study, Series: q.Series}, needHeader,
		func(r stored, md map[string]json.RawMessage) error {
			ok := !slices.ContainsFunc(perInstance, func(k Key) bool {
				var vals []string
				if col := columnOf(k); col != nil {
					if s := col(&r); s != "" {
						vals = []string{s}
					}
				} else {
					vals = values(md, k.Path)
				}
				return !k.matches(vals, q.Fuzzy)
			})
			rows = append(rows, r)
			matched = append(matched, ok)
			return nil
		})
	if err != nil {
		return nil, err
	}

	studies := aggregate(rows, StudyLevel)
	series := aggregate(rows, SeriesLevel)
	var found []*match
	for _, m := range aggregate(rows, q.Level).list {
		first := -1
		for _, i := range m.rows {
			if matched[i] {
				first = i
				break
			}
		}
		if first < 0 {
			continue
		}
		st := studies.index[rows[first].study]
		if !slices.ContainsFunc(perStudy, func(k Key) bool { return !k.matchesList(st.modalities) }) {
			m.first = rows[first]
			found = append(found, m)
		}
	}

	res := &Result{Total: len(found)}
	page := found[min(q.Offset, len(found)):]
	page = page[:min(q.Limit, len(page))]
	for _, m := range page {
		md, err := c.metadata(ctx, v, &m.first, nil)
		if err != nil {
			return nil, err
		}
		res.Matches = append(res.Matches, q.object(m.first, md, studies.index[m.first.study], series.index[m.first.series], base))
	}
	keys := map[string]string{}
	for _, k := range q.Keys {
		keys[k.Name()] = k.Value
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionStudiesQueried, Object: object,
		After: map[string]any{"level": q.Level.String(), "match": keys, "results": len(res.Matches), "total": res.Total}})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// columnOf returns how to read a key's attribute from an instance row
// without its header, or nil when the header is needed.
func columnOf(k Key) func(*stored) string {
	if len(k.Path) != 1 {
		return nil
	}
	switch k.Path[0] {
	case dicom.StudyInstanceUID:
		return func(r *stored) string { return r.study }
	case dicom.SeriesInstanceUID:
		return func(r *stored) string { return r.series }
	case dicom.SOPInstanceUID:
		return func(r *stored) string { return r.sop }
	case dicom.SOPClassUID:
		return func(r *stored) string { return r.sopClass }
	case dicom.Modality:
		return func(r *stored) string { return r.modality }
	}
	return nil
}

// matchesList matches a key against a multi-valued attribute the
// catalogue computes (Modalities in Study): a list value (CT\MR or CT,MR)
// matches when the attribute holds any of them.
func (k Key) matchesList(vals []string) bool {
	for _, want := range splitList(k.Value) {
		if (Key{Path: k.Path, VR: k.VR, Value: want}).matches(vals, false) {
			return true
		}
	}
	return k.Value == "" || k.Value == "*"
}

// match is one study, series or instance of a search, folded from its
// instance rows.
type match struct {
	first      stored // the instance whose header gives the attributes
	rows       []int  // indexes of its instance rows
	series     map[string]bool
	modalities []string
}

// matches is the folding of instance rows into studies, series or
// instances, in row order.
type matches struct {
	list  []*match
	index map[string]*match
}

// aggregate folds rows into one match per study, series or instance.
func aggregate(rows []stored, level Level) matches {
	out := matches{index: map[string]*match{}}
	for i, r := range rows {
		key := r.study
		switch level {
		case SeriesLevel:
			key = r.series
		case InstanceLevel:
			key = r.sop
		}
		m := out.index[key]
		if m == nil {
			m = &match{first: r, series: map[string]bool{}}
			out.index[key] = m
			out.list = append(out.list, m)
		}
		m.rows = append(m.rows, i)
		m.series[r.series] = true
		if r.modality != "" && !slices.Contains(m.modalities, r.modality) {
			m.modalities = append(m.modalities, r.modality)
		}
	}
	return out
}

// object is the DICOM JSON of one match: the level's attributes (and, for
// a search not under a study or series, those of the levels above) from
// the header md of its first matching instance, the attributes the query
// included or matched on, the counts, and its RetrieveURL.
func (q Query) object(r stored, md map[string]json.RawMessage, study, series *match, base string) map[string]any {
	o := map[string]any{}
	add := func(tag string) {
		if v, ok := md[tag]; ok {
			o[tag] = v
		}
	}
	if q.All {
		for tag, v := range md {
			if !hasBinary(v) {
				o[tag] = v
			}
		}
	}
	for _, t := range levelTags[q.Level] {
		add(t)
	}
	if q.Level >= SeriesLevel && q.Study == "" {
		for _, t := range levelTags[StudyLevel] {
			add(t)
		}
	}
	if q.Level == InstanceLevel && q.Series == "" {
		for _, t := range levelTags[SeriesLevel] {
			add(t)
		}
	}
	for _, t := range q.Include {
		add(t.Hex())
	}
	for _, k := range q.Keys {
		add(k.Path[0].Hex())
	}
	url := base + "/studies/" + r.study
	if q.Level >= SeriesLevel {
		url += "/series/" + r.series
	}
	if q.Level == InstanceLevel {
		url += "/instances/" + r.sop
	}
	o[tagRetrieveURL.Hex()] = dicomValue("UR", url)
	withStudy := q.Level == StudyLevel || q.Study == ""
	if withStudy || q.includes(tagModalitiesInStudy) {
		o[tagModalitiesInStudy.Hex()] = dicomValue("CS", study.modalities...)
	}
	if withStudy || q.includes(tagStudySeries) {
		o[tagStudySeries.Hex()] = dicomNumber("IS", len(study.series))
	}
	if withStudy || q.includes(tagStudyInstances) {
		o[tagStudyInstances.Hex()] = dicomNumber("IS", len(study.rows))
	}
	if q.Level == SeriesLevel || q.Level == InstanceLevel && q.Series == "" || q.includes(tagSeriesInstances) {
		o[tagSeriesInstances.Hex()] = dicomNumber("IS", len(series.rows))
	}
	if q.Level != SeriesLevel {
		o[tagInstanceAvailability.Hex()] = dicomValue("CS", "ONLINE")
	}
	return o
}

// includes reports whether the query asked for t (includefield).
func (q Query) includes(t dicom.Tag) bool { return q.All || slices.Contains(q.Include, t) }

// hasBinary reports whether a DICOM JSON element carries binary values
// (InlineBinary or BulkDataURI), which searches do not return.
func hasBinary(raw json.RawMessage) bool {
	return strings.Contains(string(raw), `"InlineBinary"`) || strings.Contains(string(raw), `"BulkDataURI"`)
}

type jsonValue struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

func dicomValue(vr string, vs ...string) jsonValue {
	v := jsonValue{VR: vr}
	for _, s := range vs {
		v.Value = append(v.Value, s)
	}
	return v
}

func dicomNumber(vr string, n int) jsonValue { return jsonValue{VR: vr, Value: []any{n}} }
