package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gowebpki/jcs"
)

// SchemaVersion is the version of the canonical entry encoding.
const SchemaVersion = 1

// TimeFormat is the layout of every time in an entry: UTC, microseconds.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// SystemChain is the name of the chain that records events of no trial.
const SystemChain = "system"

// Outcome says how an attempted action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

func (o Outcome) valid() bool { return o == Success || o == Denied || o == Failed }

// Actor is who acts: a person using one of their roles, or a system component.
// Session, IP and UserAgent describe where the request came from.
type Actor struct {
	ID        string // user id, or "system:<component>"
	Username  string
	FullName  string
	Role      string // the role used for this action
	Session   string // session id, never the bearer token
	IP        string
	UserAgent string
}

// System returns the actor for a system component, e.g. System("sequencer").
func System(component string) Actor { return Actor{ID: "system:" + component} }

// Object names what an entry is about.
type Object struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// String returns "type/id".
func (o Object) String() string {
	if o.Type == "" {
		return ""
	}
	return o.Type + "/" + o.ID
}

// Signature is the manifestation of an electronic signature on an entry.
type Signature struct {
	Signer       string `json:"signer"` // user id
	Name         string `json:"name"`   // printed name
	Meaning      string `json:"meaning"`
	Time         string `json:"time"`          // TimeFormat
	RecordSHA256 string `json:"record_sha256"` // hex SHA-256 of the signed record's canonical bytes
}

// Event is what domain code records about one change, access or attempt. The
// transaction that records it adds the time, the actor, and the trial and
// site of its scope: domain code never names the chain an event goes to.
type Event struct {
	Action    Action
	Object    Object
	Before    any // JSON-encodable, the changed fields only
	After     any
	Reason    string
	Signature *Signature
	Outcome   Outcome // defaults to Success
}

// Entry is a complete audit entry before it is chained: an event with its
// time, actor and scope. Trial and Site are "" for the system chain and for
// changes to a trial as a whole.
type Entry struct {
	Time  time.Time
	Actor Actor
	Trial string
	Site  string
	Event
}

// Chain returns the name of the chain the entry belongs to.
func (e *Entry) Chain() string { return ChainOf(e.Trial) }

// ChainOf returns the chain of a trial; "" is the system chain.
func ChainOf(trial string) string {
	if trial == "" {
		return SystemChain
	}
	return "trial/" + trial
}

// wire is the JSON shape of an entry; Encode canonicalises it.
type wire struct {
	V         int             `json:"v"`
	Time      string          `json:"time"`
	Actor     wireActor       `json:"actor"`
	Session   string          `json:"session,omitempty"`
	IP        string          `json:"ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	Action    Action          `json:"action"`
	Object    *Object         `json:"object,omitempty"`
	Trial     string          `json:"trial,omitempty"`
	Site      string          `json:"site,omitempty"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Signature *Signature      `json:"signature,omitempty"`
	Outcome   Outcome         `json:"outcome"`
}

type wireActor struct {
	ID       string `json:"id"`
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
}

// Validate reports whether the entry can be recorded.
func (e *Entry) Validate() error {
	switch {
	case e.Time.IsZero():
		return errors.New("audit: entry has no time")
	case e.Actor.ID == "":
		return errors.New("audit: entry has no actor")
	case !Known(e.Action):
		return fmt.Errorf("audit: unregistered action %q", e.Action)
	case e.Outcome != "" && !e.Outcome.valid():
		return fmt.Errorf("audit: invalid outcome %q", e.Outcome)
	case strings.Contains(e.Trial, "/"):
		return fmt.Errorf("audit: invalid trial id %q", e.Trial)
	}
	return nil
}

// Encode returns the canonical bytes of e (RFC 8785), the bytes that are
// hashed and stored.
func Encode(e *Entry) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	w := wire{
		V:         SchemaVersion,
		Time:      e.Time.UTC().Format(TimeFormat),
		Actor:     wireActor{ID: e.Actor.ID, Username: e.Actor.Username, Name: e.Actor.FullName, Role: e.Actor.Role},
		Session:   e.Actor.Session,
		IP:        e.Actor.IP,
		UserAgent: e.Actor.UserAgent,
		Action:    e.Action,
		Trial:     e.Trial,
		Site:      e.Site,
		Reason:    e.Reason,
		Signature: e.Signature,
		Outcome:   e.Outcome,
	}
	if w.Outcome == "" {
		w.Outcome = Success
	}
	if e.Object.Type != "" {
		w.Object = &e.Object
	}
	var err error
	if w.Before, err = fields(e.Before); err != nil {
		return nil, fmt.Errorf("audit: encode before: %w", err)
	}
	if w.After, err = fields(e.After); err != nil {
		return nil, fmt.Errorf("audit: encode after: %w", err)
	}
	c, err := Canonical(&w)
	if err != nil {
		return nil, fmt.Errorf("audit: encode entry: %w", err)
	}
	return c, nil
}

func fields(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("changed fields must be a JSON object")
	}
	return b, nil
}

// Decode parses canonical bytes back into an Entry. Before and After are
// returned as json.RawMessage.
func Decode(b []byte) (*Entry, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("audit: decode entry: %w", err)
	}
	if w.V != SchemaVersion {
		return nil, fmt.Errorf("audit: unknown entry schema version %d", w.V)
	}
	t, err := time.Parse(TimeFormat, w.Time)
	if err != nil {
		return nil, fmt.Errorf("audit: decode entry time: %w", err)
	}
	e := &Entry{
		Time: t,
		Actor: Actor{ID: w.Actor.ID, Username: w.Actor.Username, FullName: w.Actor.Name, Role: w.Actor.Role,
			Session: w.Session, IP: w.IP, UserAgent: w.UserAgent},
		Trial: w.Trial,
		Site:  w.Site,
		Event: Event{Action: w.Action, Reason: w.Reason, Signature: w.Signature, Outcome: w.Outcome},
	}
	if w.Object != nil {
		e.Object = *w.Object
	}
	if w.Before != nil {
		e.Before = w.Before
	}
	if w.After != nil {
		e.After = w.After
	}
	return e, nil
}

// Canonical returns the RFC 8785 (JCS) bytes of v's JSON encoding: the
// one byte form of a signed record, whatever map order or number
// spelling produced it.
func Canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: canonical: %w", err)
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("audit: canonical: %w", err)
	}
	return c, nil
}
