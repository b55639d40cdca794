// Reads one session the way BaileysCSharp does, and prints what it found as JSON.
//
//   mono SessionReader.exe ROOT NAME [PREFIX/ID ...]
//
// - creds: File.ReadAllText(Path.Combine(ROOT, NAME, NAME + "_creds.json")), as the gateway's creds loader does
//   (ReadAllText detects and drops a UTF-8 byte order mark), then the text must parse as a JSON object;
// - keys: FileKeyStore's current look-up, Path.Combine(Path.Combine(session, FolderPrefix), id + ".json") with
//   "/" and "::" in the id replaced by "__";
// - the LiteDB store: Path.Combine(session, "store.db").
// Plain C# 5 (Debian's mono-mcs); test-only code, not part of the collection.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

public static class SessionReader
{
    public static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: SessionReader.exe ROOT NAME [PREFIX/ID ...]");
            return 2;
        }
        string session = Path.Combine(args[0], args[1]);
        var report = new List<string>();
        string credsPath = Path.Combine(session, args[1] + "_creds.json");
        bool credsFound = File.Exists(credsPath);
        bool credsValid = false;
        string credsError = null;
        if (credsFound)
        {
            string text = File.ReadAllText(credsPath);
            try
            {
                new Json(text).Document();
                credsValid = text.TrimStart().StartsWith("{");
                if (!credsValid) credsError = "not a JSON object";
            }
            catch (FormatException e)
            {
                credsError = e.Message;
            }
        }
        report.Add(Pair("creds_found", credsFound ? "true" : "false"));
        report.Add(Pair("creds_valid", credsValid ? "true" : "false"));
        report.Add(Pair("creds_error", credsError == null ? "null" : Quote(credsError)));
        var keys = new List<string>();
        for (int i = 2; i < args.Length; i++)
        {
            int slash = args[i].IndexOf('/');
            string prefix = args[i].Substring(0, slash);
            string id = args[i].Substring(slash + 1);
            string file = Path.Combine(Path.Combine(session, prefix), id.Replace("/", "__").Replace("::", "__") + ".json");
            bool found = File.Exists(file) && File.ReadAllText(file).Length > 0;
            keys.Add(Pair(args[i], found ? "true" : "false"));
        }
        report.Add(Quote("keys") + ": {" + string.Join(", ", keys.ToArray()) + "}");
        report.Add(Pair("store_db", File.Exists(Path.Combine(session, "store.db")) ? "true" : "false"));
        Console.WriteLine("{" + string.Join(", ", report.ToArray()) + "}");
        return 0;
    }

    static string Pair(string key, string value)
    {
        return Quote(key) + ": " + value;
    }

    static string Quote(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in text)
        {
            if (c == '"' || c == '\\') sb.Append('\\').Append(c);
            else if (c < ' ') sb.AppendFormat("\\u{0:x4}", (int)c);
            else sb.Append(c);
        }
        return sb.Append('"').ToString();
    }
}

// A strict JSON syntax check (RFC 8259), enough to tell creds from garbage.
class Json
{
    readonly string s;
    int i;

    public Json(string text)
    {
        s = text;
    }

    public void Document()
    {
        Value();
        Space();
        if (i != s.Length) throw Error("trailing characters");
    }

    FormatException Error(string what)
    {
        return new FormatException(what + " at offset " + i);
    }

    void Space()
    {
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    }

    void Expect(char c)
    {
        Space();
        if (i >= s.Length || s[i] != c) throw Error("expected '" + c + "'");
        i++;
    }

    void Value()
    {
        Space();
        if (i >= s.Length) throw Error("unexpected end");
        char c = s[i];
        if (c == '{')
        {
            i++;
            Space();
            if (i < s.Length && s[i] == '}') { i++; return; }
            while (true)
            {
                Space();
                String();
                Expect(':');
                Value();
                Space();
                if (i < s.Length && s[i] == ',') { i++; continue; }
                Expect('}');
                return;
            }
        }
        if (c == '[')
        {
            i++;
            Space();
            if (i < s.Length && s[i] == ']') { i++; return; }
            while (true)
            {
                Value();
                Space();
                if (i < s.Length && s[i] == ',') { i++; continue; }
                Expect(']');
                return;
            }
        }
        if (c == '"') { String(); return; }
        foreach (string word in new[] { "true", "false", "null" })
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) == 0) { i += word.Length; return; }
        }
        Number();
    }

    void String()
    {
        if (i >= s.Length || s[i] != '"') throw Error("expected a string");
        i++;
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] < ' ') throw Error("control character in a string");
            if (s[i] == '\\') i++;
            i++;
        }
        if (i >= s.Length) throw Error("unterminated string");
        i++;
    }

    void Number()
    {
        int start = i;
        if (i < s.Length && s[i] == '-') i++;
        while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) i++;
        if (i == start) throw Error("unexpected character '" + s[i] + "'");
    }
}
