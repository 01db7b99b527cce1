// LTX-2.3 Reference V2V: the Settings node's combination rules, evaluated in the browser.
// No side effects: the extension (rv2v.js) imports it, and a test runs it under Node against the
// backend's validation. The rules themselves are not written here: each Settings input carries
// them in the node definition (`rv2v_rules`, generated from the pack's parameter table).

function isEmpty(value) {
  return value === null || value === undefined || (typeof value === "string" && value.trim() === "");
}

function holds(cond, values) {
  const value = values[cond.field];
  if (cond.test === "set") return !isEmpty(value);
  if (cond.test === "unset") return isEmpty(value);
  return Boolean(value) === (cond.test === "true");
}

// rules: {field: rv2v_rules}, values: {field: value}
// -> {errors: [{field, message}], inactive: {field: reason}, hidden: [field], greyed: [field]}
export function evaluateRules(rules, values) {
  const errors = [];
  const inactive = {};
  const hidden = [];
  const greyed = [];
  for (const [field, rule] of Object.entries(rules)) {
    if (rule.required && isEmpty(values[field])) {
      errors.push({ field, message: `${field}: ${rule.required_message}` });
    }
    if (rule.requires && values[field]) {
      const missing = rule.requires.filter((c) => !holds(c, values));
      if (missing.length) {
        const needs = rule.requires.map((c) => c.text).join(" and ");
        errors.push({
          field,
          message: `${field}: requires ${needs} (missing: ${missing.map((c) => c.field).join(", ")})`,
        });
      }
    }
    const off = rule.inactive_when && rule.inactive_when.every((c) => holds(c, values));
    // A boolean whose requirements do not hold cannot be turned on: grey it out while it is off.
    const blocked = rule.requires && !values[field] && rule.requires.some((c) => !holds(c, values));
    if (off) {
      inactive[field] = `ignored because ${rule.inactive_reason}`;
      if (rule.hide_inactive) hidden.push(field);
      else if (rule.grey_inactive !== false) greyed.push(field);
    } else if (blocked) {
      inactive[field] = `needs ${rule.requires.map((c) => c.text).join(" and ")}`;
      greyed.push(field);
    }
  }
  return { errors, inactive, hidden, greyed };
}

// The rules of a node definition ({input: {required: {...}, optional: {...}}}).
export function rulesFromNodeDef(nodeData) {
  const rules = {};
  for (const group of ["required", "optional"]) {
    for (const [name, spec] of Object.entries(nodeData?.input?.[group] ?? {})) {
      const options = Array.isArray(spec) ? spec[1] : null;
      if (options && options.rv2v_rules) rules[name] = options.rv2v_rules;
    }
  }
  return rules;
}
