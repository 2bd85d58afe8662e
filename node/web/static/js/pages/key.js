import { getJSON, publishRecord } from "../api.js";
import { $, copy, say } from "../dom.js";
import { FieldError, handleSubmit } from "../forms.js";
import { KeyError, currentKey, forgetKey, generateKey, importPem } from "../keys.js";

const status = $("#key-status");

async function membership(did) {
  try {
    const { members } = await getJSON("/api/v1/members");
    const found = members.find((m) => m.did === did || m.key === did);
    return found ? `yes (${found.role})` : "not yet: ask the operator to admit your did";
  } catch (error) {
    return `unknown (${error.message})`;
  }
}

async function showKey(key, backupPem = null) {
  $("#signin").hidden = Boolean(key);
  $("#current").hidden = !key;
  window.dispatchEvent(new Event("fabcommons:key"));
  if (!key) return;
  $("#my-did").textContent = key.did;
  $("#my-source").textContent =
    key.source === "generated" ? "made in this browser, not extractable" : "imported from a key file, not extractable";
  const backup = $("#backup");
  backup.hidden = !backupPem;
  if (backupPem) {
    const link = $("#backup-link");
    link.href = URL.createObjectURL(new Blob([backupPem], { type: "application/x-pem-file" }));
    link.download = `fabcommons-${key.did.slice(-8)}.key`;
    link.addEventListener("click", () => say(status, "Backup downloaded. Keep it safe."), { once: true });
  }
  $("#my-membership").textContent = await membership(key.did);
}

handleSubmit($("#generate-form"), async () => {
  const { key, backupPem } = await generateKey();
  await showKey(key, backupPem);
  $("#backup-h").scrollIntoView();
  $("#backup-link").focus();
});

handleSubmit($("#import-form"), async (data) => {
  const file = data.get("key_file");
  let text = (data.get("key_text") || "").trim();
  let field = "key_text";
  if (file && file.size) {
    if (file.size > 4096) throw new FieldError("key_file", "a key file is at most 4096 bytes");
    text = await file.text();
    field = "key_file";
  }
  if (!text) throw new FieldError("key_text", "choose your key file or paste it");
  try {
    await showKey(await importPem(text));
  } catch (error) {
    if (error instanceof KeyError || error instanceof DOMException) throw new FieldError(field, error.message);
    throw error;
  }
  $("#key-text").value = "";
  say(status, "Key imported. The pasted text was cleared from the page.");
});

handleSubmit($("#profile-form"), async (data) => {
  const body = { display_name: data.get("display_name") };
  if (data.get("contact")) body.contact = data.get("contact");
  const { id, index } = await publishRecord("member.profile", body);
  const status = $("#profile-status");
  say(status, `Published as entry ${index} of the log (${id}).`);
  status.dataset.recordId = id;
});

$("#forget-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!window.confirm("Forget the key in this browser? Without a backup it is gone for good.")) return;
  await forgetKey();
  await showKey(null);
});

$("#copy-did").addEventListener("click", () => copy($("#my-did").textContent, status));

currentKey().then((key) => showKey(key));
