// rbtokens report: the findings filters. Reads the JSON data block, writes only with
// textContent and properties (never innerHTML); without it the page reads as it is.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("rbtokens-data").textContent);
  var form = document.getElementById("filters");
  var severity = document.getElementById("f-severity");
  var rule = document.getElementById("f-rule");
  var user = document.getElementById("f-user");
  var mark = document.getElementById("f-mark");
  var count = document.getElementById("f-count");
  var groups = Array.prototype.slice.call(document.querySelectorAll("#findings details.group"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("#findings tbody tr"));

  function fill(select, values) {
    values.forEach(function (value) {
      var option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    });
  }
  fill(severity, data.severities);
  fill(rule, data.rules);
  fill(mark, data.marks);
  var users = document.getElementById("f-users");
  data.users.forEach(function (name) {
    var option = document.createElement("option");
    option.value = name;
    users.appendChild(option);
  });
  document.getElementById("f-mark-label").hidden = data.marks.length === 0;

  function apply() {
    var s = severity.value, r = rule.value, m = mark.value;
    var u = user.value.trim().toLowerCase();
    var filtered = Boolean(s || r || m || u);
    var shown = 0;
    rows.forEach(function (tr) {
      var d = tr.dataset;
      var ok = (!s || d.severity === s) && (!r || d.rule === r) &&
        (!m || (" " + d.mark + " ").indexOf(" " + m + " ") !== -1) &&
        (!u || d.user.toLowerCase().indexOf(u) !== -1);
      tr.hidden = !ok;
      if (ok) { shown += 1; }
    });
    groups.forEach(function (group) {
      var visible = group.querySelector("tbody tr:not([hidden])") !== null;
      group.hidden = !visible;
      if (filtered && visible) { group.open = true; }
    });
    count.textContent = filtered ? shown + " of " + data.findings + " findings shown"
      : data.findings + " findings";
  }
  form.addEventListener("input", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  window.addEventListener("beforeprint", function () {
    groups.forEach(function (group) { group.open = true; });
  });
  form.hidden = false;
  apply();
}());
