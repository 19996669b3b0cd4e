package reads

// TrialConfig is what the service reads of one version of a trial's
// definition.
type TrialConfig struct {
	Trial   string
	Version int
	Design  *Design
	Sites   []Place
	Visits  []Place // in protocol order: the first is the baseline
}

// Place is a site (id, name) or a visit (id, label) of a trial.
type Place struct{ ID, Name string }

// visitIndex returns the position of a visit in protocol order, or -1.
func (c *TrialConfig) visitIndex(id string) int {
	for i, v := range c.Visits {
		if v.ID == id {
			return i
		}
	}
	return -1
}

// siteName returns the name of a site, or "".
func (c *TrialConfig) siteName(id string) string {
	for _, s := range c.Sites {
		if s.ID == id {
			return s.Name
		}
	}
	return ""
}
