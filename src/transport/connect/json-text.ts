// Decodes JSON request bodies for connect-es (its `jsonOptions.textDecoder` hook): the text must be
// valid Unicode. Invalid UTF-8 is refused rather than replaced by U+FFFD, which was stored as if the
// client had sent it (an owner "a\uFFFD\uFFFD"); protobuf-es refuses it in binary strings already.
// And no lone UTF-16 surrogate can reach an error message: gRPC percent-encodes grpc-message with
// encodeURIComponent, which throws on one, and the call was then never answered (a stack logged).
// Two ways in, both closed here: a "\ud800" escape quoted back in a "cannot decode field" message,
// and the JSON parser's error excerpt cutting a surrogate pair of the raw text in half.

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A surrogate escape, with its partner when one follows; and, so "\\\\" pairs are skipped, any other escape. */
const ESCAPE = /\\u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\[^]/g;

export const jsonRequestDecoder = {
  decode(input?: Uint8Array): string {
    let text: string;
    try {
      text = utf8.decode(input);
    } catch {
      // connect-es turns this throw into INVALID_ARGUMENT with this message.
      throw new Error("invalid JSON: the request body is not valid UTF-8; strings must be valid Unicode");
    }
    // Plain ASCII without \u escapes (nearly every request) cannot produce a surrogate.
    if (!/[^\x00-\x7f]/.test(text) && !text.includes("\\u")) return text;
    // Non-ASCII becomes \u escapes: the same JSON value, but an all-ASCII text, so a parser error
    // quoting a slice of it cannot split a pair.
    const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
    // A lone surrogate escape is refused outright, as protobuf-es already refuses one in a string
    // field. connect-es turns this throw into INVALID_ARGUMENT with this (ASCII) message.
    for (const m of ascii.matchAll(ESCAPE)) {
      const loneHigh = m[1] !== undefined && m[2] === undefined;
      const loneLow = m[1] === undefined && /^\\u[dD][c-fC-F]/.test(m[0]);
      if (loneHigh || loneLow) {
        throw new Error(`invalid JSON: lone UTF-16 surrogate escape ${m[0].slice(0, 6)} at offset ${m.index}; strings must be valid Unicode`);
      }
    }
    return ascii;
  },
};

/**
 * connect-es `jsonOptions` using the decoder. connect-es passes them on to its JSON serialization,
 * which reads `textDecoder`; the handler options type does not list it, hence a plain object here.
 * ignoreUnknownFields is connect-es's own default, kept.
 */
export const requestJsonOptions = { ignoreUnknownFields: true, textDecoder: jsonRequestDecoder };
