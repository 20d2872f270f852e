"""Skeletons cut from our own source, so that nothing is written twice.

A target is a function or a method, by its qualified name. Its decorators, signature,
docstring and the comments above its first statement stay; the statements become one
``raise NotImplementedError("stage N: title")``. Everything else of the file (imports,
constants, classes, the functions no stage names) stays as it is. The source is
rewritten by line ranges that ``ast`` finds, so comments elsewhere survive.
"""
import ast


def functions(source):
    """{qualname: the FunctionDef node} for every function and method of ``source``."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = child
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(ast.parse(source), "")
    return found


def _first_cut_line(node):
    """The first line of the statements to cut: after the docstring, if any."""
    body = node.body
    first = body[0]
    has_docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                     and isinstance(first.value.value, str))
    if has_docstring and len(body) > 1:
        return body[1].lineno
    return None if has_docstring else first.lineno


def cut(source, messages):
    """``source`` with the bodies of the functions in ``messages`` ({qualname: text})
    replaced by ``raise NotImplementedError(text)``. KeyError for an unknown name."""
    nodes = functions(source)
    missing = [name for name in messages if name not in nodes]
    if missing:
        raise KeyError(f"no function {', '.join(missing)} in the source")
    lines = source.splitlines(keepends=True)
    # From the bottom up, so that the line numbers above stay right.
    for name in sorted(messages, key=lambda name: -nodes[name].lineno):
        node = nodes[name]
        start = _first_cut_line(node)
        indent = " " * node.body[-1].col_offset
        stub = f"{indent}raise NotImplementedError({messages[name]!r})\n"
        if start is None:  # a docstring alone: the stub goes after it
            lines[node.end_lineno:node.end_lineno] = [stub]
        else:
            lines[start - 1:node.end_lineno] = [stub]
    return "".join(lines)


def segment(source, qualname):
    """The text of one function, decorators included, and its first line number."""
    node = functions(source)[qualname]
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = source.splitlines(keepends=True)
    return "".join(lines[first - 1:node.end_lineno]), first


def skeleton(subject, upto=0):
    """{file name: skeleton text} of a subject: every target of a stage after ``upto``
    cut out (``upto=0``: the learner's starting point; the last stage: ours)."""
    texts = {}
    for name in subject.files:
        source = (subject.package / name).read_text()
        messages = {
            target.qualname: f"stage {stage.number}: {stage.title}"
            for stage in subject.stages if stage.number > upto
            for target in stage.writes if target.file == name
        }
        texts[name] = cut(source, messages) if messages else source
    return texts
