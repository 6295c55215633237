// `gfs completion bash`: a bash completion script made from the command registry (cli.ts), so a
// command or flag added to any commands-*.ts file is completed without touching this file.
import type { FlagSpec } from "@gfs/common";

export interface CompletionEntry {
  synopsis: string;
  flags: Record<string, FlagSpec>;
}

/** A flag as typed on the command line: one letter with one dash (-l, -R), else two (--json). */
export const flagWord = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);

/** Every word a command accepts as a flag, as typed: its own, then --help (-h too unless it has an h flag) and --version. */
export function commandFlagWords(flags: Record<string, FlagSpec>): string[] {
  return [...Object.keys(flags).map(flagWord), ...(flags.h ? [] : ["-h"]), "--help", "--version"];
}

/** The fixed words a command's first argument may be, from its synopsis: "ca init DIR" -> [init], "x a|b ID" -> [a, b]. */
export function subcommandWords(synopsis: string): string[] {
  const first = synopsis.split(" ")[1] ?? "";
  return /^[a-z][a-z-]*(\|[a-z][a-z-]*)*$/.test(first) ? first.split("|") : [];
}

const quote = (words: string[]) => `"${words.join(" ")}"`;

/**
 * The script (`source <(gfs completion bash)`): completes command names, each command's flags and
 * fixed first words, and the global flags before the command; other words fall back to bash's
 * file names (-o default). With GFS_COMPLETE_REMOTE=1 a word starting with / is completed from the
 * cluster (`gfs ls`, with the global flags already typed).
 */
export function bashCompletion(commands: Record<string, CompletionEntry>, globalFlags: Record<string, FlagSpec>): string {
  const valued = Object.entries(globalFlags).filter(([, s]) => s.type !== "boolean").map(([n]) => `--${n}`);
  const cases = Object.entries(commands).map(([name, c]) => {
    const subs = subcommandWords(c.synopsis);
    return `    ${name}) flags=${quote(commandFlagWords(c.flags))}; subs=${quote(subs)} ;;`;
  });
  return `# bash completion for gfs, generated from its command registry: source <(gfs completion bash)
_gfs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" at=0 i w
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      ${valued.join("|")}) ((i++)); continue ;;
      -*) continue ;;
    esac
    cmd="$w"; at=$i; break
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then
      COMPREPLY=($(compgen -W ${quote([...Object.keys(globalFlags).map((n) => `--${n}`), "--help", "--version"])} -- "$cur"))
    else
      COMPREPLY=($(compgen -W ${quote(Object.keys(commands))} -- "$cur"))
    fi
    return 0
  fi
  local flags="" subs=""
  case "$cmd" in
${cases.join("\n")}
    *) return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n "$subs" && $COMP_CWORD -eq $((at + 1)) ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [[ "$cur" == /* && -n "$GFS_COMPLETE_REMOTE" ]]; then
    local dir="\${cur%/*}/" name
    local listed="\${dir%/}"
    while IFS= read -r name; do
      [[ "$name" == "\${cur##*/}"* ]] && COMPREPLY+=("$dir$name")
    done < <("\${COMP_WORDS[0]}" "\${COMP_WORDS[@]:1:at-1}" ls "\${listed:-/}" 2>/dev/null)
  fi
  return 0
}
complete -o default -F _gfs gfs
`;
}
