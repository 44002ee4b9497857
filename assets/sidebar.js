/* Dropdowns (the sidebar's time zone, users, countries ...): typing while a list is open searches
   it at once. Dash's dropdown opens with the focus on the selected option, not on its search box,
   so the keys typed went nowhere; the first printable key moves the focus to the search box,
   which then receives it. */
document.addEventListener(
    "keydown",
    function (event) {
        if (event.ctrlKey || event.metaKey || event.altKey || !event.key || event.key.length !== 1) {
            return;
        }
        var active = document.activeElement;
        if (!active || !active.closest || active.classList.contains("dash-dropdown-search")) {
            return;
        }
        var popup = active.closest(".dash-dropdown-content, [role='dialog']");
        var search = popup ? popup.querySelector("input.dash-dropdown-search") : null;
        if (search) {
            search.focus();
        }
    },
    true
);
