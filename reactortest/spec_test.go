package reactortest

import (
	"os"
	"regexp"
	"testing"
)

var ruleLine = regexp.MustCompile("(?m)^- \\*\\*`([a-z0-9.-]+)`\\*\\*")

// SpecRules returns the rule ids of docs/SPEC.md in order.
func specRules(t *testing.T) []string {
	data, err := os.ReadFile("../docs/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ruleLine.FindAllStringSubmatch(string(data), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestEveryRuleHasACase checks that every rule of the spec has a case and that
// every case names a rule of the spec.
func TestEveryRuleHasACase(t *testing.T) {
	rules := specRules(t)
	if len(rules) == 0 {
		t.Fatal("no rules found in docs/SPEC.md")
	}
	inSpec := make(map[string]bool)
	for _, r := range rules {
		if inSpec[r] {
			t.Errorf("rule %s appears twice in the spec", r)
		}
		inSpec[r] = true
	}
	covered := make(map[string]bool)
	seen := make(map[string]bool)
	for _, k := range Cases() {
		if seen[k.ID] {
			t.Errorf("case id %s is used twice", k.ID)
		}
		seen[k.ID] = true
		if !inSpec[k.Rule()] {
			t.Errorf("case %s names no rule of docs/SPEC.md", k.ID)
		}
		covered[k.Rule()] = true
	}
	for _, r := range rules {
		if !covered[r] {
			t.Errorf("rule %s has no conformance case", r)
		}
	}
	t.Logf("%d rules, %d cases", len(rules), len(Cases()))
}
