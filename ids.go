package trialgate

// MaxIDLen is the longest id of a trial, site, subject or visit.
const MaxIDLen = 64

// ValidID reports whether s can name a trial, site, subject or visit: 1 to
// MaxIDLen of A-Z a-z 0-9 '.' '_' '-', and neither "." nor "..". Such ids
// are safe as URL path segments, in audit chain names and in logs, and never
// hold a '/', '*' or ':', which separate the parts of chain names and role
// grants.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
