// luacheck runs an Argo CD resource health check (Lua) against Kubernetes objects, with gopher-lua, the Lua
// VM Argo CD embeds, so the scripts in deploy/argocd/health can be tested without an Argo CD installation.
//
//	go run . SCRIPT.lua < objects.json
//
// objects.json is a JSON array of objects; the output is a JSON array of {"status", "message"}, one per
// object, or {"error"} when the script fails for that object.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

type result struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// toLua converts decoded JSON into Lua values the way Argo CD exposes objects to health scripts:
// objects become tables with string keys, arrays become sequences, numbers become Lua numbers.
func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch t := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(t)
	case float64:
		return lua.LNumber(t)
	case string:
		return lua.LString(t)
	case []interface{}:
		tbl := l.NewTable()
		for _, e := range t {
			tbl.Append(toLua(l, e))
		}
		return tbl
	case map[string]interface{}:
		tbl := l.NewTable()
		for k, e := range t {
			tbl.RawSetString(k, toLua(l, e))
		}
		return tbl
	default:
		return lua.LString(fmt.Sprint(t))
	}
}

func check(script string, obj interface{}) result {
	l := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer l.Close()
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return result{Error: err.Error()}
	}
	ret := l.Get(-1)
	tbl, ok := ret.(*lua.LTable)
	if !ok {
		return result{Error: fmt.Sprintf("script returned %s, want a table", ret.Type())}
	}
	r := result{}
	if s, ok := tbl.RawGetString("status").(lua.LString); ok {
		r.Status = string(s)
	}
	if m, ok := tbl.RawGetString("message").(lua.LString); ok {
		r.Message = string(m)
	}
	return r
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: luacheck SCRIPT.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var objs []interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objs); err != nil {
		fmt.Fprintln(os.Stderr, "objects:", err)
		os.Exit(1)
	}
	out := make([]result, 0, len(objs))
	for _, o := range objs {
		out = append(out, check(string(script), o))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
