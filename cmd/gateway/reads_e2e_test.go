package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

// readsTrial is a two-site trial read twice with adjudication: a
// response and a sum of diameters compared by the rules, dates shifted,
// time points labelled.
const readsTrial = `{"id":"T-READ","name":"Blinded reads end to end",
 "sites":[{"id":"SITE-NORTH","name":"North Marker Hospital"},{"id":"SITE-SOUTH","name":"South Marker Clinic"}],
 "visits":[{"id":"BL","label":"Baseline"},{"id":"FU1","label":"Follow-up one"}],
 "deid":{"options":["retain_long_modified_dates","retain_device_identity"]},
 "qc":{"rules":[{"id":"mod","kind":"allowed_modalities","severity":"fail","modalities":["CT","MR","PT","CR","OT"]}]},
 "reads":{"design":"double_adjudicated",
  "adjudication":{"rules":[{"field":"response"},{"field":"sum_mm","abs_diff":5}]},
  "blinding":{"dates":"shift","timepoints":"label"},
  "form":{"fields":[
   {"id":"response","type":"choice","required":true,"choices":["CR","PR","SD","PD"]},
   {"id":"sum_mm","type":"decimal","required":true,"min":0,"max":1000,"unit":"mm"},
   {"id":"new_lesions","type":"boolean","required":true},
   {"id":"comment","type":"text"}]}}}`

// Markers the source objects carry; none may reach a reader.
var readMarkers = map[string]dicom.Tag{
	"Doe^Marker":              dicom.PatientName,
	"MRN-MARKER-77":           dicom.PatientID,
	"Marker General Hospital": dicom.InstitutionName,
}

// markedInstance is the file at path as a new instance of the given
// study carrying the markers and set.
func markedInstance(t *testing.T, path, study string, set map[dicom.Tag]string) []byte {
	t.Helper()
	set[dicom.StudyInstanceUID] = study
	set[dicom.SeriesInstanceUID] = study + ".1"
	for v, tag := range readMarkers {
		set[tag] = v
	}
	return freshInstance(t, path, set)
}

// sourceDates lists every DA value of an object's data set, and the date
// part of every DT value.
func sourceDates(t *testing.T, b []byte) []string {
	t.Helper()
	obj, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	obj.Dataset.Walk(func(_ []*dicom.Element, e *dicom.Element) bool {
		if e.VR == "DA" || e.VR == "DT" {
			for _, v := range e.Strings() {
				if len(v) >= 8 {
					out = append(out, v[:8])
				}
			}
		}
		return true
	})
	return out
}

// api is a JSON client of one user.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (a apiClient) call(method, path string, body any) response {
	a.t.Helper()
	var r *bytes.Reader
	ct := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r, ct = bytes.NewReader(b), "application/json"
	}
	if r == nil {
		return do(a.t, method, a.base+path, a.token, "", nil)
	}
	return do(a.t, method, a.base+path, a.token, ct, r)
}

// must calls and requires the status.
func (a apiClient) must(status int, method, path string, body any, out any) response {
	a.t.Helper()
	r := a.call(method, path, body)
	if r.status != status {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if out != nil {
		r.json(a.t, out)
	}
	return r
}

type e2eTask struct {
	ID         string
	Case       string
	Kind       string
	Status     string
	Version    int
	Reader     string
	Slot       int
	Timepoints []struct {
		Index   int
		Label   string
		Studies []string
	}
	Versions []struct {
		Version   int
		Reason    string
		Result    map[string]any
		Signature struct {
			Name, Meaning, Time string
			RecordSHA256        string `json:"record_sha256"`
		}
	}
	Reads []struct {
		Label  string
		Result map[string]any
	}
	DiscordantFields []string `json:"discordant_fields"`
}

func TestBlindedReads(t *testing.T) {
	src := filepath.Join(realDir(t), "3.dcm")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			g := &gateway{t: t, args: b.args(t)}
			def := filepath.Join(t.TempDir(), "trial.json")
			if err := os.WriteFile(def, []byte(readsTrial), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := g.cli("", "trial", "create", "--file", def); err != nil {
				t.Fatal(err)
			}
			g.addUser("dana", "data_manager:T-READ")
			g.addUser("nora", "site_uploader:T-READ:SITE-NORTH")
			g.addUser("sam", "site_uploader:T-READ:SITE-SOUTH")
			g.addUser("quinn", "qc_reviewer:T-READ")
			g.addUser("ines", "inspector:T-READ")
			g.addUser("ivy", "inspector:*")
			g.addUser("adam", "adjudicator:T-READ")
			for _, r := range []struct{ name, site string }{{"rita", "SITE-NORTH"}, {"rex", ""}, {"ruth", "SITE-SOUTH"}} {
				args := []string{"user", "add", "--username", r.name, "--full-name", "Reader " + r.name, "--password-stdin",
					"--role", "reader:T-READ"}
				if r.site != "" {
					args = append(args, "--affiliation", "T-READ:"+r.site)
				}
				if _, err := g.cli(testPassword+"\n", args...); err != nil {
					t.Fatal(err)
				}
			}
			g.serve()
			testBlindedReads(t, g, src)
		})
	}
}

func testBlindedReads(t *testing.T, g *gateway, src string) {
	client := func(user string) apiClient { return apiClient{t: t, base: g.base, token: token(t, g.base, user)} }
	dana, quinn, ines := client("dana"), client("quinn"), client("ines")
	dana.must(200, "POST", "/api/v1/trials/T-READ/versions/1/approve",
		map[string]string{"password": testPassword, "meaning": "approval"}, nil)

	// One subject per site, one visit each, uploaded and accepted.
	type upload struct {
		site, user, subject, study string
		object                     []byte
	}
	ups := []*upload{
		{site: "SITE-NORTH", user: "nora", subject: "SUBJ-NORTH-001", study: "1.2.826.0.1.3680043.10.1.1"},
		{site: "SITE-SOUTH", user: "sam", subject: "SUBJ-SOUTH-002", study: "1.2.826.0.1.3680043.10.1.2"},
	}
	var dates []string
	for _, u := range ups {
		up := client(u.user)
		var sub struct{ ID string }
		up.must(201, "POST", "/api/v1/trials/T-READ/submissions",
			map[string]string{"site": u.site, "subject": u.subject, "visit": "BL"}, &sub)
		u.object = markedInstance(t, src, u.study, map[dicom.Tag]string{dicom.StudyDate: "20190304"})
		dates = append(dates, sourceDates(t, u.object)...)
		ct, body := stowBody(u.object)
		if r := do(t, "POST", g.base+"/dicomweb/submissions/"+sub.ID+"/studies", up.token, ct, bytes.NewReader(body)); r.status != 200 {
			t.Fatalf("stow: %d %s", r.status, r.body)
		}
		up.must(200, "POST", "/api/v1/submissions/"+sub.ID+"/complete", nil, nil)
		quinn.must(200, "POST", "/api/v1/submissions/"+sub.ID+"/qc-decision",
			map[string]string{"decision": "accept", "reason": "images complete"}, nil)
	}
	slices.Sort(dates)
	dates = slices.Compact(dates)

	// Only a data manager assigns; the seed is kept.
	client("rita").must(403, "POST", "/api/v1/trials/T-READ/read-assignments", map[string]string{}, nil)
	var run struct {
		Seed         string
		CasesCreated int `json:"cases_created"`
		Tasks        []e2eTask
	}
	dana.must(200, "POST", "/api/v1/trials/T-READ/read-assignments", map[string]string{"seed": "e2e-seed"}, &run)
	if run.Seed != "e2e-seed" || run.CasesCreated != 2 || len(run.Tasks) != 4 {
		t.Fatalf("assignment: %+v", run)
	}
	// A second run finds nothing new.
	var again struct{ Tasks []e2eTask }
	dana.must(200, "POST", "/api/v1/trials/T-READ/read-assignments", nil, &again)
	if len(again.Tasks) != 0 {
		t.Fatalf("second run assigned %d tasks", len(again.Tasks))
	}
	// Site exclusion: rita (north) never reads the north case, ruth
	// (south) never the south one; the two reads of a case differ.
	var overview struct {
		Tasks []struct {
			ID, Case, Site, Reader, Kind, Status string
			Slot                                 int
		}
	}
	dana.must(200, "GET", "/api/v1/trials/T-READ/read-tasks", nil, &overview)
	readersOf := map[string][]string{}
	siteOf := map[string]string{}
	taskOf := map[string]map[string]string{} // case -> reader -> task
	for _, x := range overview.Tasks {
		readersOf[x.Case] = append(readersOf[x.Case], x.Reader)
		siteOf[x.Case] = x.Site
		if taskOf[x.Case] == nil {
			taskOf[x.Case] = map[string]string{}
		}
		taskOf[x.Case][x.Reader] = x.ID
		if x.Site == "SITE-NORTH" && x.Reader == "rita" || x.Site == "SITE-SOUTH" && x.Reader == "ruth" {
			t.Errorf("%s reads a case of their own site %s", x.Reader, x.Site)
		}
	}
	for c, rs := range readersOf {
		if len(rs) != 2 || rs[0] == rs[1] {
			t.Errorf("case %s readers %v", c, rs)
		}
	}
	var north, south string
	for c, s := range siteOf {
		if s == "SITE-NORTH" {
			north = c
		} else {
			south = c
		}
	}

	// Readers see their own tasks only, blinded.
	forbidden := []string{"SUBJ-NORTH-001", "SUBJ-SOUTH-002", "SITE-NORTH", "SITE-SOUTH", "North Marker Hospital",
		"South Marker Clinic", "Baseline", "Doe^Marker", "MRN-MARKER-77", "Marker General Hospital"}
	forbidden = append(forbidden, dates...)
	clean := func(what string, b []byte) {
		t.Helper()
		for _, f := range forbidden {
			if bytes.Contains(b, []byte(f)) {
				t.Errorf("%s reveals %q", what, f)
			}
		}
	}
	tasksOf := map[string][]e2eTask{}
	for _, reader := range []string{"rita", "rex", "ruth"} {
		var list struct{ Tasks []e2eTask }
		r := client(reader).must(200, "GET", "/api/v1/read-tasks", nil, &list)
		clean("task list of "+reader, r.body)
		tasksOf[reader] = list.Tasks
		for _, x := range list.Tasks {
			if taskOf[x.Case][reader] != x.ID {
				t.Errorf("%s lists task %s of case %s, not theirs", reader, x.ID, x.Case)
			}
			if len(x.Timepoints) != 1 || x.Timepoints[0].Label != "baseline" || len(x.Timepoints[0].Studies) != 1 {
				t.Errorf("task %s time points %+v", x.ID, x.Timepoints)
			}
		}
	}
	if n := len(tasksOf["rita"]) + len(tasksOf["rex"]) + len(tasksOf["ruth"]); n != 4 {
		t.Fatalf("readers hold %d tasks, want 4", n)
	}
	client("dana").must(403, "GET", "/api/v1/read-tasks", nil, nil)

	// Each reader retrieves their blinded instances: nothing identifying
	// survives, the pixel data is the source's, byte for byte.
	for reader, ts := range tasksOf {
		rc := client(reader)
		for _, x := range ts {
			root := "/dicomweb/reads/" + x.ID
			var studies []map[string]any
			r := rc.must(200, "GET", root+"/studies", nil, &studies)
			clean(reader+" QIDO studies", r.body)
			if len(studies) != 1 {
				t.Fatalf("%s sees %d studies in task %s", reader, len(studies), x.ID)
			}
			study := x.Timepoints[0].Studies[0]
			r = rc.must(200, "GET", root+"/studies/"+study+"/series", nil, nil)
			clean(reader+" QIDO series", r.body)
			var series []map[string]map[string]any
			r.json(t, &series)
			seriesUID := series[0]["0020000E"]["Value"].([]any)[0].(string)
			var insts []map[string]map[string]any
			r = rc.must(200, "GET", root+"/studies/"+study+"/series/"+seriesUID+"/instances", nil, &insts)
			clean(reader+" QIDO instances", r.body)
			sop := insts[0]["00080018"]["Value"].([]any)[0].(string)
			r = rc.must(200, "GET", root+"/studies/"+study+"/series/"+seriesUID+"/metadata", nil, nil)
			clean(reader+" metadata", r.body)
			if !bytes.Contains(r.body, []byte(x.Case)) {
				t.Errorf("%s metadata lacks the case code %s", reader, x.Case)
			}
			obj := wado(t, g.base+root+"/studies/"+study+"/series/"+seriesUID+"/instances/"+sop, rc.token, "*")
			pix := pixelElement(obj)
			clean(reader+" retrieved instance header", obj[:len(obj)-len(pix)])
			var source []byte
			for _, u := range ups {
				if (u.site == "SITE-NORTH") == (x.Case == north) {
					source = u.object
				}
			}
			if !bytes.Equal(pix, pixelElement(source)) {
				a, b := pix, pixelElement(source)
				n := 0
				for n < min(len(a), len(b)) && a[n] == b[n] {
					n++
				}
				t.Errorf("%s: pixel data of the blinded instance differs from the source: %d vs %d bytes, first difference at %d: % x | % x",
					reader, len(a), len(b), n, a[max(0, n-8):min(len(a), n+8)], b[max(0, n-8):min(len(b), n+8)])
			}
			// The other readers' tasks do not exist for this reader.
			for other, ots := range tasksOf {
				if other == reader {
					continue
				}
				for _, o := range ots {
					if slices.ContainsFunc(ts, func(m e2eTask) bool { return m.ID == o.ID }) {
						continue
					}
					if r := rc.call("GET", "/dicomweb/reads/"+o.ID+"/studies", nil); r.status != 404 {
						t.Errorf("%s reading %s's task: %d", reader, other, r.status)
					}
					if r := rc.call("GET", "/api/v1/read-tasks/"+o.ID, nil); r.status != 404 {
						t.Errorf("%s viewing %s's task: %d", reader, other, r.status)
					}
				}
			}
		}
	}

	// Reads: the form decides what is valid.
	taskFor := func(c string, slot int) (string, apiClient) {
		for _, x := range overview.Tasks {
			if x.Case == c && x.Slot == slot {
				return x.ID, client(x.Reader)
			}
		}
		t.Fatalf("no slot %d task of %s", slot, c)
		return "", apiClient{}
	}
	id, rc := taskFor(north, 1)
	for _, bad := range []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"response": "XX", "sum_mm": 10, "new_lesions": false}, "values.response"},
		{map[string]any{"response": "PR", "sum_mm": "ten", "new_lesions": false}, "values.sum_mm"},
		{map[string]any{"response": "PR", "sum_mm": 5000, "new_lesions": false}, "values.sum_mm"},
		{map[string]any{"response": "PR", "sum_mm": 10}, "values.new_lesions"},
	} {
		r := rc.call("PUT", "/api/v1/read-tasks/"+id+"/result", map[string]any{"values": bad.values})
		if r.status != 400 || !strings.Contains(string(r.body), bad.want) {
			t.Errorf("bad values %v: %d %s, want 400 naming %s", bad.values, r.status, r.body, bad.want)
		}
	}
	sign := func(id string, rc apiClient) e2eTask {
		var out e2eTask
		rc.must(200, "POST", "/api/v1/read-tasks/"+id+"/sign", map[string]string{"password": testPassword, "meaning": "authorship"}, &out)
		return out
	}
	read := func(c string, slot int, values map[string]any) (string, apiClient) {
		id, rc := taskFor(c, slot)
		rc.must(200, "PUT", "/api/v1/read-tasks/"+id+"/result", map[string]any{"values": values}, nil)
		return id, rc
	}
	// A wrong password is refused and recorded.
	id, rc = read(north, 1, map[string]any{"response": "PR", "sum_mm": 42.5, "new_lesions": false})
	if r := rc.call("POST", "/api/v1/read-tasks/"+id+"/sign", map[string]string{"password": "wrong password!", "meaning": "authorship"}); r.status != 401 {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	signed := sign(id, rc)
	if signed.Status != "signed" || signed.Version != 1 || len(signed.Versions) != 1 ||
		!strings.HasPrefix(signed.Versions[0].Signature.Name, "Reader ") || signed.Versions[0].Signature.RecordSHA256 == "" {
		t.Fatalf("signed: %+v", signed)
	}
	northFirst := id
	id, rc = read(north, 2, map[string]any{"response": "PR", "sum_mm": 44, "new_lesions": false})
	sign(id, rc)
	// The south case is discordant: an adjudication for adam.
	id, rc = read(south, 1, map[string]any{"response": "SD", "sum_mm": 30, "new_lesions": false})
	sign(id, rc)
	id, rc = read(south, 2, map[string]any{"response": "PD", "sum_mm": 48, "new_lesions": true, "comment": "new lesion in the liver"})
	sign(id, rc)

	adam := client("adam")
	var adjList struct{ Tasks []e2eTask }
	adam.must(200, "GET", "/api/v1/read-tasks", nil, &adjList)
	if len(adjList.Tasks) != 1 || adjList.Tasks[0].Kind != "adjudication" || adjList.Tasks[0].Case != south {
		t.Fatalf("adjudicator's tasks: %+v", adjList.Tasks)
	}
	adj := adjList.Tasks[0].ID
	var adjTask e2eTask
	r := adam.must(200, "GET", "/api/v1/read-tasks/"+adj, nil, &adjTask)
	if len(adjTask.Reads) != 2 || adjTask.Reads[0].Label != "Reader 1" || adjTask.Reads[1].Label != "Reader 2" {
		t.Fatalf("adjudication shows %+v", adjTask.Reads)
	}
	for _, who := range []string{"rita", "rex", "ruth"} {
		if bytes.Contains(r.body, []byte(who)) {
			t.Errorf("adjudication task reveals reader %s", who)
		}
	}
	if !slices.Contains(adjTask.DiscordantFields, "response") {
		t.Errorf("discordant fields %v", adjTask.DiscordantFields)
	}
	adam.must(400, "PUT", "/api/v1/read-tasks/"+adj+"/result", map[string]any{"choice": "reader_2"}, nil) // no reason
	adam.must(200, "PUT", "/api/v1/read-tasks/"+adj+"/result", map[string]any{"choice": "reader_2",
		"reason": "the new liver lesion is unequivocal"}, nil)
	sign(adj, adam)

	// A signed read changes only with a reason, as a new version.
	_, rc = taskFor(north, 1)
	changed := map[string]any{"values": map[string]any{"response": "PR", "sum_mm": 43, "new_lesions": false}}
	rc.must(400, "PUT", "/api/v1/read-tasks/"+northFirst+"/result", changed, nil)
	changed["reason"] = "re-measured the target lesion"
	rc.must(200, "PUT", "/api/v1/read-tasks/"+northFirst+"/result", changed, nil)
	v2 := sign(northFirst, rc)
	if v2.Version != 2 || len(v2.Versions) != 2 || v2.Versions[1].Reason != "re-measured the target lesion" ||
		v2.Versions[0].Signature.RecordSHA256 == v2.Versions[1].Signature.RecordSHA256 {
		t.Fatalf("second version: %+v", v2.Versions)
	}

	// Results are the sponsor's once released.
	dana.must(403, "GET", "/api/v1/trials/T-READ/reads", nil, nil)
	quinn.must(403, "GET", "/api/v1/trials/T-READ/reads/outcomes", nil, nil)
	client("rex").must(403, "GET", "/api/v1/trials/T-READ/reads", nil, nil)
	ines.must(200, "GET", "/api/v1/trials/T-READ/reads?format=jsonl", nil, nil)
	dana.must(200, "POST", "/api/v1/trials/T-READ/reads/release",
		map[string]string{"password": testPassword, "meaning": "approval", "reason": "reads complete"}, nil)
	var outcomes struct {
		Cases []struct {
			Case, Status, Source string
			Result               map[string]map[string]any
		}
	}
	dana.must(200, "GET", "/api/v1/trials/T-READ/reads/outcomes", nil, &outcomes)
	for _, o := range outcomes.Cases {
		want := map[string]string{north: "concordant", south: "adjudicated"}[o.Case]
		if o.Status != "complete" || o.Source != want {
			t.Errorf("outcome of %s: %s %s, want complete %s", o.Case, o.Status, o.Source, want)
		}
		if o.Case == south && o.Result["values"]["response"] != "PD" {
			t.Errorf("adjudicated outcome %v, want Reader 2's PD", o.Result)
		}
	}
	r = dana.must(200, "GET", "/api/v1/trials/T-READ/reads?format=csv", nil, nil)
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+6 { // 5 reads' versions (one read twice) + 1 adjudication
		t.Errorf("CSV export has %d rows, want 7: %q", len(rows), rows)
	}
	var jsonExport struct {
		Trial string
		Reads []map[string]any
	}
	dana.must(200, "GET", "/api/v1/trials/T-READ/reads?format=json", nil, &jsonExport)
	if len(jsonExport.Reads) != 6 {
		t.Errorf("JSON export has %d reads", len(jsonExport.Reads))
	}
	var agreement map[string]any
	dana.must(200, "GET", "/api/v1/trials/T-READ/reads/agreement", nil, &agreement)
	dana.must(200, "GET", "/api/v1/trials/T-READ/reads/agreement?format=csv", nil, nil)

	// The trail holds every step with its actor and outcome.
	es := queryTrail(t, g.base, ines.token, "trial=T-READ&limit=10000")
	for _, want := range []struct {
		action, outcome string
		min             int
	}{
		{"read.case_created", "success", 2}, {"read.assignment_run", "success", 2}, {"read.assigned", "success", 3},
		{"read.draft_saved", "success", 6}, {"read.draft_saved", "failed", 6}, {"read.signed", "success", 6},
		{"read.case_evaluated", "success", 2}, {"read.adjudicated", "success", 2}, {"reads.released", "success", 1},
		{"reads.exported", "success", 3}, {"access.denied", "denied", 4}, {"instance.retrieved", "success", 4},
		{"read.tasks_listed", "success", 3},
		{"dicomweb.queried", "success", 12},
	} {
		if n := count(es, want.action, want.outcome); n < want.min {
			t.Errorf("trail: %d %s %s entries, want at least %d", n, want.action, want.outcome, want.min)
		}
	}
	sys := queryTrail(t, g.base, client("ivy").token, "trial=system&action=esign.failed&limit=100")
	if len(sys) == 0 {
		t.Errorf("the wrong password at signing is not in the trail")
	}
	for _, e := range es {
		if e.Entry.Action == "read.signed" && e.Entry.Outcome == "success" && e.Entry.Actor["username"] == "" {
			t.Errorf("read.signed without its actor: %+v", e)
		}
	}
}
