// Arrow keys step through elements on an element page (presentation mode and everywhere else),
// unless the focus is in a text field.
document.addEventListener("keydown", function (event) {
    const tag = (event.target && event.target.tagName) || "";
    if (["INPUT", "TEXTAREA", "SELECT"].includes(tag) || event.altKey || event.ctrlKey || event.metaKey) {
        return;
    }
    const target = event.key === "ArrowLeft" ? "element-prev" : event.key === "ArrowRight" ? "element-next" : null;
    const link = target && document.getElementById(target);
    if (link && link.tagName === "A") {
        event.preventDefault();
        // carry the selections made on this page since it was drawn (the ticked smearing methods)
        const here = new URLSearchParams(window.location.search);
        const next = new URL(link.href, window.location.origin);
        for (const key of ["methods", "model", "dataset", "present"]) {
            if (here.has(key)) { next.searchParams.set(key, here.get(key)); }
        }
        // navigate as dcc.Link does (its href lives in React state, not in the attribute)
        window.history.pushState({}, "", next.pathname + next.search);
        window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
        window.scrollTo(0, 0);
    }
});
