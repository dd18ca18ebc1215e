import { readFileSync } from 'node:fs';
import ts from 'typescript';

/**
 * The JSDoc text of every class property in these TypeScript files, by property name,
 * read with the TypeScript compiler's own parser (no type-check, so it is fast). A comment
 * that ends with "Default: ..." keeps it: it explains a default the code computes.
 */
export function propertyDocs(files: readonly string[]): Map<string, string> {
  const docs = new Map<string, string>();
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyDeclaration(node) && ts.isIdentifier(node.name)) {
        const text = ts
          .getJSDocCommentsAndTags(node)
          .filter(ts.isJSDoc)
          .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '')
          .join(' ')
          .replace(/\s+/g, ' ')
          .trim();
        if (text) docs.set(node.name.text, text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return docs;
}
