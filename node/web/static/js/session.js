// The header's "who is signed in" line, on every page.

import { currentKey } from "./keys.js";
import { shortDid } from "./did.js";

async function show() {
  const who = document.getElementById("who");
  if (!who) return;
  try {
    const key = await currentKey();
    if (!key) return;
    who.replaceChildren();
    who.append("Signed in as ");
    const link = document.createElement("a");
    link.href = "/ui/key";
    link.title = key.did;
    link.textContent = shortDid(key.did);
    who.append(link);
  } catch {
    /* no IndexedDB (private mode): stay signed out */
  }
}

show();
window.addEventListener("fabcommons:key", show);
