// `tokenpool`, the command-line client: parses, runs one command on the client library, and turns
// any failure into "CODE REASON: message" on stderr with a non-zero exit.

import { describeError, createTokenPoolClient, LeaseLostError } from "../client/node.js";
import { parse, USAGE, UsageError } from "./args.js";
import { commandFor, type Io } from "./commands.js";

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  const io: Io = { out: (l) => process.stdout.write(l + "\n"), err: (l) => process.stderr.write(l + "\n"), interrupted: interrupt.signal };
  try {
    const parsed = parse(argv, env);
    if (parsed.positionals[0] === "help" || parsed.positionals.length === 0) {
      io.out(USAGE);
      return parsed.positionals.length === 0 ? 2 : 0;
    }
    const command = commandFor(parsed);
    await using client = createTokenPoolClient({ baseUrl: parsed.url, password: parsed.password, protocol: parsed.protocol });
    await command(client, parsed, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`tokenpool: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (interrupt.signal.aborted && !(e instanceof LeaseLostError)) return 130;
    if (e instanceof LeaseLostError) {
      io.err(`LEASE_LOST ${e.kind.toUpperCase().replace(/-/g, "_")}: ${e.message}`);
      return 1;
    }
    const d = describeError(e);
    io.err(`${d.code}${d.reason ? ` ${d.reason}` : ""}: ${d.message}`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}

process.exitCode = await main(process.argv.slice(2), process.env);
