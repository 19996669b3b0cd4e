package main

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite" // the raw handle a hostile administrator would use
)

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
