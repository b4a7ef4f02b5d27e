/**
 * What a {@link LinkedSet} links through: fields of the member itself. An object is in at most one
 * LinkedSet at a time.
 */
export abstract class Linked<T extends Linked<T>> {
  /** @internal */
  listPrev: T | undefined = undefined;
  /** @internal */
  listNext: T | undefined = undefined;
  /** @internal */
  listed = false;
}

/**
 * A set whose members carry their own links. The worker adds and removes members once per task
 * (runs waiting on user code, held attempts); a Set at that rate kept rebuilding its hash table,
 * and the tables of thousands of entries lived long enough to be promoted by the garbage
 * collector. Adding and removing here allocates nothing.
 */
export class LinkedSet<T extends Linked<T>> implements Iterable<T> {
  #first: T | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(member: T): boolean {
    return member.listed;
  }

  add(member: T): void {
    if (member.listed) return;
    member.listed = true;
    member.listPrev = undefined;
    member.listNext = this.#first;
    if (this.#first) this.#first.listPrev = member;
    this.#first = member;
    this.#size += 1;
  }

  /** False when `member` was not in the set. */
  delete(member: T): boolean {
    if (!member.listed) return false;
    member.listed = false;
    const { listPrev, listNext } = member;
    if (listPrev) listPrev.listNext = listNext;
    else this.#first = listNext;
    if (listNext) listNext.listPrev = listPrev;
    member.listPrev = undefined;
    member.listNext = undefined;
    this.#size -= 1;
    return true;
  }

  /** Copy it (`[...set]`) before adding or deleting while going through it. */
  *[Symbol.iterator](): Iterator<T> {
    for (let member = this.#first; member; member = member.listNext) yield member;
  }
}
