import { defineTarget } from '../../src/index.js';

/** A target `Notes` whose `write` records each text it runs with, in `ran`. */
export function noteTarget() {
  const ran: string[] = [];
  const target = defineTarget('Notes', {
    write(args: { text: string }) {
      ran.push(args.text);
    },
  });
  return { target, ran };
}
